// Command benchextract runs the extract stage (ldap source, file store) once
// against a server, exactly as the CLI wires it, and prints accounts, groups,
// memberships, seconds, entries/s and its own peak RSS (getrusage) as one
// line; it exits 1 when the stage fails. Used by scripts/bench-extract.sh.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/extract"
	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/extract/ldap"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

func main() {
	url := flag.String("url", "ldap://127.0.0.1:38389", "LDAP URL")
	out := flag.String("out", "", "store directory (required)")
	page := flag.Int("page", 1000, "page size")
	cpuprof := flag.String("cpuprofile", "", "write a CPU profile here")
	memprof := flag.String("memprofile", "", "write a heap profile taken near the peak of the live heap here")
	flag.Parse()
	if *memprof != "" {
		stop := peakHeapProfile(*memprof)
		defer stop()
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	y := fmt.Sprintf("version: 1\ntrees:\n  - name: bench\n    source: ldap\n    ldap:\n      url: %s\n      bind_dn: cn=Directory Manager\n      bind_password: {env: PW}\n      page_size: %d\n      timeout: 600s\n", *url, *page)
	cfg, err := config.Parse("bench.yaml", []byte(y))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	st, err := store.NewFileStore(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	getenv := func(string) string { return "secret" }
	env := artifact.Env{Store: st, RunID: artifact.NewRunID(time.Now()), Version: "bench", Host: "bench", TempDir: *out, Log: log, Now: time.Now}
	start := time.Now()
	var lastPage time.Time // end of the LDAP read; the rest is member resolution and publishing
	res, err := extract.Run(context.Background(), env, cfg, extract.Options{NewSource: func(t extractconf.Tree) (extract.Source, error) {
		src, err := ldap.New(t, getenv, log)
		if err == nil {
			src.PageHook = func(int, int) { lastPage = time.Now() }
		}
		return src, err
	}})
	secs := time.Since(start).Seconds()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchextract:", err)
		os.Exit(1)
	}
	tr := res.Trees[0]
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // Maxrss in KiB on Linux
	fmt.Printf("accounts=%d groups=%d memberships=%d seconds=%.2f read_seconds=%.2f entries_per_s=%.0f peak_rss_kb=%d cpu_seconds=%.2f\n",
		tr.Accounts, tr.Groups, tr.Memberships, secs, lastPage.Sub(start).Seconds(), float64(tr.Accounts+tr.Groups)/secs, ru.Maxrss,
		time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds())
}

// peakHeapProfile samples the live heap every 100ms and keeps a heap profile
// taken whenever it grew 5% past the previous peak; stop writes the last one.
func peakHeapProfile(path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	var best bytes.Buffer
	var peak uint64
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak+peak/20 {
				peak = ms.HeapAlloc
				best.Reset()
				_ = pprof.Lookup("heap").WriteTo(&best, 0)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		fmt.Fprintf(os.Stderr, "benchextract: peak heap alloc %d MB (profile %s)\n", peak>>20, path)
		_ = os.WriteFile(path, best.Bytes(), 0o644)
	}
}
