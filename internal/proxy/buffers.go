package proxy

import "sync"

// copyBufferSize is the body copy buffer, as ReverseProxy's and io.Copy's.
const copyBufferSize = 32 << 10

// bufferPool reuses the body copy buffers: without one, a fresh 32 KiB
// buffer for every response, which was 81% of the bytes
// allocated per request and most of the GC work (bench/README.md).
type bufferPool struct{ p sync.Pool }

// The pool holds array pointers: Put gets the pointer back from the slice
// without allocating one.
func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return v[:]
	}
	return new([copyBufferSize]byte)[:]
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != copyBufferSize {
		return
	}
	b.p.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
}
