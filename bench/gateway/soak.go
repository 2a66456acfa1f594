package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// soakRun loads toolgate in phases until it has served total calls (done
// already counted) and prints its memory after each: resident set (from
// /proc), Go heap in use and goroutines (from its /metrics). Memory that
// keeps growing with calls is a leak; docs/design.md asks for it to stay flat.
func soakRun(total, done int, phase func() *result, pid int, metricsURL string) {
	fmt.Printf("soak: until %d calls through toolgate\n", total)
	fmt.Printf("%10s %10s %10s %10s %10s %8s\n", "calls", "calls/s", "errors", "RSS MiB", "heap MiB", "gorout.")
	var first, last memSample
	for n := 0; done < total; n++ {
		r := phase()
		done += r.calls
		m := sampleMem(pid, metricsURL)
		if n == 0 {
			first = m
		}
		last = m
		fmt.Printf("%10d %10.0f %10d %10.1f %10.1f %8d\n", done, r.rate(), r.errors, m.rss/(1<<20), m.heap/(1<<20), int(m.goroutines))
	}
	fmt.Printf("soak: RSS %.1f -> %.1f MiB, Go heap in use %.1f -> %.1f MiB, goroutines %d -> %d (first phase -> last)\n",
		first.rss/(1<<20), last.rss/(1<<20), first.heap/(1<<20), last.heap/(1<<20), int(first.goroutines), int(last.goroutines))
}

type memSample struct{ rss, heap, goroutines float64 }

func sampleMem(pid int, metricsURL string) memSample {
	var m memSample
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.rss = kb * 1024
			}
		}
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "go_memstats_heap_inuse_bytes":
			m.heap = v
		case "go_goroutines":
			m.goroutines = v
		}
	}
	return m
}
