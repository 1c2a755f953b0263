// Package state reads and writes state.json, the record of which colour each
// service serves and why.
//
// state.json is the only thing that survives a restart of switchd, and on
// start it wins over the configured initial colour, so two rules shape this
// package: a file that cannot be read or understood is an error naming the
// file and the problem (never a silently empty state, which would move traffic
// back to the initial colours), and a write either replaces the whole file or
// leaves the previous one intact (temp file, fsync, rename, fsync the folder).
// A save that is in place but whose folder fsync failed is ErrNotDurable: the
// change stands. File operations are fields of Store, so tests inject faults.
//
// Main types: File (the document: Version, Services), Record (one service:
// active and previous colour, generation, who, when, why), Store (the folder:
// OpenWith, Save, Missing). Decode and Encode are the strict codec.
//
// state imports only config (for Color) and atomicfile (the write), and must
// not import any floor above it: the switchboard, its only writer, asks it
// through the small Store interface it declares itself.
package state
