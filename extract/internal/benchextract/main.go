// Command benchextract runs the extract stage (ldap source, file store) once
// against a server and prints accounts, groups, memberships, seconds and
// entries/s as one line. Used by scripts/bench-extract.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/extract"
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
	flag.Parse()
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
	res, err := extract.Run(context.Background(), env, cfg, extract.Options{NewSource: func(t config.Tree) (extract.Source, error) { return ldap.New(t, getenv, log) }})
	secs := time.Since(start).Seconds()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	tr := res.Trees[0]
	fmt.Printf("accounts=%d groups=%d memberships=%d seconds=%.2f entries_per_s=%.0f\n", tr.Accounts, tr.Groups, tr.Memberships, secs, float64(tr.Accounts+tr.Groups)/secs)
}
