// Package bench holds switchd's benchmarks: the in-process request-path
// benchmarks (proxy_bench_test.go, `go test -bench . -benchmem ./bench/`)
// and run.sh, which compares the switchd binary with nginx, HAProxy and a
// bare Go proxy through the shared harness. See README.md.
package bench
