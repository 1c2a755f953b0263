package proxy

import "sync"

// copyBufferSize is what ReverseProxy would allocate per response.
const copyBufferSize = 32 << 10

// bufferPool reuses the body copy buffers: without it ReverseProxy makes a
// fresh 32 KiB buffer for every response, which was 81% of the bytes
// allocated per request and most of the GC work (bench/README.md).
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, copyBufferSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != copyBufferSize {
		return
	}
	buf = buf[:copyBufferSize]
	b.p.Put(&buf)
}
