// Package atomicfile replaces a file so that a crash at any moment leaves
// the old contents or the new ones, never a part: the data goes to a temp
// file in the same folder, is fsynced, renamed over the target, and the
// folder is fsynced. state.json and the internal CA's files are written
// this way.
package atomicfile
