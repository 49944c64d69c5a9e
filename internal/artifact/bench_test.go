package artifact

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Benchmarks (each in its own process so peak RSS is its own):
//
//	go test -run '^$' -bench '^BenchmarkWriteAccounts$' -benchtime 1x -benchmem ./internal/artifact/
//	go test -run '^$' -bench '^BenchmarkReadAccounts$' -benchtime 1x -benchmem ./internal/artifact/
//	go test -run '^$' -bench '^BenchmarkGenAccounts$' -benchtime 1x -benchmem ./internal/artifact/
//
// Rows are generated outside the timer (in chunks, so they never hold 1M rows
// in memory): rows/s, B/op and allocs/op are the writer's (or reader's) own.
// peak_rss_MB is the process's resident high-water mark during the timed
// phase (VmHWM, reset before it through /proc/self/clear_refs where Linux
// allows, else getrusage's max since process start).

// benchGen builds realistic directory users without fmt (the generator is
// measured on its own by BenchmarkGenAccounts): most attributes single-valued,
// a few multi-valued, group memberships and extra attributes.
type benchGen struct{ buf []byte }

func (g *benchGen) s(parts ...any) string {
	g.buf = g.buf[:0]
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			g.buf = append(g.buf, v...)
		case int:
			g.buf = strconv.AppendInt(g.buf, int64(v), 10)
		case pad:
			g.buf = appendPadded(g.buf, uint64(v.n), v.base, v.width)
		}
	}
	return string(g.buf)
}

// pad is an integer printed in base, zero-padded to width (like %07d, %08x).
type pad struct{ n, base, width int }

func appendPadded(dst []byte, n uint64, base, width int) []byte {
	var tmp [24]byte
	d := strconv.AppendUint(tmp[:0], n, base)
	for i := len(d); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, d...)
}

var (
	benchTitles = []string{"Account Executive", "Sales Engineer", "Developer", "Manager"}
	benchDepts  = []string{"Sales", "Engineering", "Marketing"}
	benchCtry   = []string{"DE", "US", "GB", "FR"}
)

func (g *benchGen) account(i int) contract.Account {
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	part := g.s("partition-", i%7)
	return contract.Account{
		Tree:           "acme",
		Partition:      part,
		DN:             g.s("cn=user", pad{i, 10, 7}, ",ou=Users,ou=", part, ",ou=IdentityProviders,dc=identity,dc=opentext,dc=net"),
		SourceID:       g.s(pad{i, 16, 8}, "-1b2c-4d5e-8f90-", pad{i * 7919, 16, 12}),
		ObjectGUID:     g.s(pad{i * 31, 16, 8}, "-aaaa-4bbb-8ccc-", pad{i, 16, 12}),
		ModifiedAt:     &mod,
		CreatedAt:      &mod,
		Login:          []string{g.s("user", pad{i, 10, 7})},
		Mail:           []string{g.s("first.last", i, "@acme-subsidiary.example.com")},
		GivenName:      []string{"First"},
		Surname:        []string{g.s("Last", i%5000)},
		DisplayName:    []string{g.s("First Last", i%5000)},
		EmployeeID:     []string{g.s("E", pad{i, 10, 7})},
		Title:          []string{benchTitles[i%4]},
		Department:     []string{benchDepts[i%3]},
		Company:        []string{"Acme Subsidiary GmbH"},
		Country:        []string{benchCtry[i%4]},
		City:           []string{"Berlin"},
		Manager:        []string{g.s("cn=user", pad{i / 10, 10, 7}, ",ou=Users,ou=", part, ",dc=identity")},
		Disabled:       []string{"false"},
		MemberOf:       []string{g.s("cn=group", i%100, ",ou=Groups"), g.s("cn=group", i%37, ",ou=Groups"), "cn=all-staff,ou=Groups"},
		ServiceAccount: nil,
		Extra:          map[string][]string{"region": {"EMEA"}, "territory": {g.s("T", i%50)}},
	}
}

// benchAccount is the same row built with fmt (the original generator), kept
// to check that the fast generator makes the same rows.
func benchAccount(i int) contract.Account {
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	return contract.Account{
		Tree:           "acme",
		Partition:      fmt.Sprintf("partition-%d", i%7),
		DN:             fmt.Sprintf("cn=user%07d,ou=Users,ou=partition-%d,ou=IdentityProviders,dc=identity,dc=opentext,dc=net", i, i%7),
		SourceID:       fmt.Sprintf("%08x-1b2c-4d5e-8f90-%012x", i, i*7919),
		ObjectGUID:     fmt.Sprintf("%08x-aaaa-4bbb-8ccc-%012x", i*31, i),
		ModifiedAt:     &mod,
		CreatedAt:      &mod,
		Login:          []string{fmt.Sprintf("user%07d", i)},
		Mail:           []string{fmt.Sprintf("first.last%d@acme-subsidiary.example.com", i)},
		GivenName:      []string{"First"},
		Surname:        []string{fmt.Sprintf("Last%d", i%5000)},
		DisplayName:    []string{fmt.Sprintf("First Last%d", i%5000)},
		EmployeeID:     []string{fmt.Sprintf("E%07d", i)},
		Title:          []string{benchTitles[i%4]},
		Department:     []string{benchDepts[i%3]},
		Company:        []string{"Acme Subsidiary GmbH"},
		Country:        []string{benchCtry[i%4]},
		City:           []string{"Berlin"},
		Manager:        []string{fmt.Sprintf("cn=user%07d,ou=Users,ou=partition-%d,dc=identity", i/10, i%7)},
		Disabled:       []string{"false"},
		MemberOf:       []string{fmt.Sprintf("cn=group%d,ou=Groups", i%100), fmt.Sprintf("cn=group%d,ou=Groups", i%37), "cn=all-staff,ou=Groups"},
		ServiceAccount: nil,
		Extra:          map[string][]string{"region": {"EMEA"}, "territory": {fmt.Sprintf("T%d", i%50)}},
	}
}

const (
	benchRows  = 1_000_000
	benchChunk = 4096 // rows generated at a time, outside the timer
)

// cpuTime is the process's user+system CPU time so far (GC included): on a
// shared, loaded machine it is steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeBenchAccounts writes rows accounts and commits; only the writer's
// work (OpenTable, Write, Commit) runs with the timer on. It returns the
// wall and CPU time of that work.
func writeBenchAccounts(b *testing.B, st store.Store, runID string, rows int) (*Manifest, time.Duration, time.Duration) {
	b.Helper()
	env := Env{Store: st, RunID: runID, TempDir: b.TempDir()}
	s := NewStage(env, "extract.acme")
	var g benchGen
	chunk := make([]contract.Account, 0, benchChunk)
	start, cpu0 := time.Now(), cpuTime()
	w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
	if err != nil {
		b.Fatal(err)
	}
	var elapsed, cpu time.Duration
	for i := 0; i < rows; i += benchChunk {
		elapsed += time.Since(start)
		cpu += cpuTime() - cpu0
		b.StopTimer()
		chunk = chunk[:0]
		for j := i; j < i+benchChunk && j < rows; j++ {
			chunk = append(chunk, g.account(j))
		}
		b.StartTimer()
		start, cpu0 = time.Now(), cpuTime()
		for _, a := range chunk {
			if err := w.Write(a); err != nil {
				b.Fatal(err)
			}
		}
	}
	_, m, err := s.Commit(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return m, elapsed + time.Since(start), cpu + cpuTime() - cpu0
}

func tableBytes(m *Manifest, table string) int64 {
	var n int64
	for _, f := range m.Tables[table].Files {
		n += f.Bytes
	}
	return n
}

// resetPeakRSS returns freed memory to the OS and resets the resident
// high-water mark (Linux clear_refs 5); false when that is not possible.
func resetPeakRSS() bool {
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSSMB is VmHWM from /proc/self/status, else getrusage's ru_maxrss.
func peakRSSMB() float64 {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if f := bytes.Fields(sc.Bytes()); len(f) >= 2 && string(f[0]) == "VmHWM:" {
				if kb, err := strconv.ParseFloat(string(f[1]), 64); err == nil {
					return kb / 1024
				}
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

// TestBenchGenMatchesFmt checks the fast bench generator against the fmt one.
func TestBenchGenMatchesFmt(t *testing.T) {
	var g benchGen
	for _, i := range []int{0, 1, 6, 7, 99, 12345, 999_999} {
		got, want := g.account(i), benchAccount(i)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("row %d:\ngot  %v\nwant %v", i, got, want)
		}
	}
}

// BenchmarkGenAccounts is the cost of generating the bench rows alone.
func BenchmarkGenAccounts(b *testing.B) {
	var g benchGen
	var n int
	for i := 0; i < b.N; i++ {
		for j := 0; j < benchRows; j++ {
			a := g.account(j)
			n += len(a.DN)
		}
	}
	if n == 0 {
		b.Fatal("no rows")
	}
}

// BenchmarkWriteAccounts writes 1M account rows per iteration through a
// file:// store (local temp): part files, zstd, upload (hard link), manifest.
func BenchmarkWriteAccounts(b *testing.B) {
	st, err := store.NewFileStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	resetPeakRSS()
	b.ResetTimer()
	var total, cpu time.Duration
	var bytes int64
	for i := 0; i < b.N; i++ {
		m, d, c := writeBenchAccounts(b, st, fmt.Sprintf("20261125T%06dZ-bench", i), benchRows)
		total += d
		cpu += c
		bytes = tableBytes(m, "accounts")
	}
	b.ReportMetric(float64(benchRows*b.N)/total.Seconds(), "rows/s")
	b.ReportMetric(float64(benchRows*b.N)/cpu.Seconds(), "rows/cpu_s")
	b.ReportMetric(float64(bytes), "parquet_bytes")
	b.ReportMetric(float64(bytes)/benchRows, "bytes/row")
	b.ReportMetric(peakRSSMB(), "peak_rss_MB")
}

// BenchmarkReadAccounts reads the 1M rows back into contract.Account.
func BenchmarkReadAccounts(b *testing.B) {
	st, err := store.NewFileStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	m, _, _ := writeBenchAccounts(b, st, "20261125T000000Z-bench", benchRows)
	ctx := context.Background()
	resetPeakRSS()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		var n int
		var mails int
		err := ReadTable(ctx, st, m, contract.AccountsSpec, func(a contract.Account) error {
			n++
			mails += len(a.Mail)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != benchRows || mails != benchRows {
			b.Fatalf("read %d rows, %d mails; want %d", n, mails, benchRows)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(float64(benchRows*b.N)/(cpuTime()-cpu0).Seconds(), "rows/cpu_s")
	b.ReportMetric(float64(tableBytes(m, "accounts")), "parquet_bytes")
	b.ReportMetric(peakRSSMB(), "peak_rss_MB")
}

// effPlain is contract.EffectiveMembership with every string column PLAIN
// (no `,dict`): the reference BenchmarkWriteEffectiveMemberships compares
// the dict columns against, in the same run.
type effPlain struct {
	AccountKey string   `parquet:"account_key"`
	Tree       string   `parquet:"tree"`
	GroupKey   string   `parquet:"group_key"`
	GroupDN    string   `parquet:"group_dn"`
	GroupName  string   `parquet:"group_name"`
	Direct     bool     `parquet:"direct"`
	Depth      int32    `parquet:"depth"`
	Path       []string `parquet:"path"`
}

// BenchmarkWriteEffectiveMemberships writes 1M effective_memberships rows
// per iteration with the contract's dict columns (dict) and with every
// string column PLAIN (plain), in the same run: rows per CPU-second and
// bytes per row. The rows are a real run's:
// OTDS_BENCH_EFFECTIVE=<artifact store dir>:<run id> (e.g. a kept
// bench-nightly state: <size dir>/after.day1/artifacts:20260101-nightly-day1;
// it needs 1M rows, 200k accounts give 1.26M). Generated rows were no
// measure: their group names are so regular that zstd squeezes PLAIN pages
// for next to nothing and the dictionaries lose. Skipped without it.
func BenchmarkWriteEffectiveMemberships(b *testing.B) {
	v := os.Getenv("OTDS_BENCH_EFFECTIVE")
	if v == "" {
		b.Skip("OTDS_BENCH_EFFECTIVE=<store dir>:<run id> not set")
	}
	dir, run, _ := strings.Cut(v, ":")
	st, err := store.NewFileStore(dir)
	if err != nil {
		b.Fatal(err)
	}
	var rows []contract.EffectiveMembership
	err = ReadParts(context.Background(), st, run, contract.EffectiveMembershipsSpec, func(e contract.EffectiveMembership) error {
		if len(rows) < benchRows {
			rows = append(rows, e)
		}
		return nil
	})
	if err != nil || len(rows) < benchRows {
		b.Fatalf("OTDS_BENCH_EFFECTIVE=%s: %d rows (want %d), %v", v, len(rows), benchRows, err)
	}
	gen := func(i int) contract.EffectiveMembership { return rows[i] }
	b.Run("dict", func(b *testing.B) {
		benchWriteRows(b, contract.EffectiveMembershipsSpec, gen)
	})
	b.Run("plain", func(b *testing.B) {
		benchWriteRows(b, contract.Spec{Name: "effective_plain", Version: 1}, func(i int) effPlain {
			return effPlain(gen(i))
		})
	})
}

func benchWriteRows[T any](b *testing.B, spec contract.Spec, gen func(int) T) {
	st, err := store.NewFileStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var total, cpu time.Duration
	var bytes int64
	chunk := make([]T, 0, benchChunk)
	for it := 0; it < b.N; it++ {
		s := NewStage(Env{Store: st, RunID: fmt.Sprintf("20261203T%06dZ-bench", it), TempDir: b.TempDir()}, "transform")
		w, err := OpenTable[T](s, spec)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < benchRows; i += benchChunk {
			b.StopTimer()
			chunk = chunk[:0]
			for j := i; j < i+benchChunk && j < benchRows; j++ {
				chunk = append(chunk, gen(j))
			}
			b.StartTimer()
			start, cpu0 := time.Now(), cpuTime()
			for _, r := range chunk {
				if err := w.Write(r); err != nil {
					b.Fatal(err)
				}
			}
			total, cpu = total+time.Since(start), cpu+cpuTime()-cpu0
		}
		start, cpu0 := time.Now(), cpuTime()
		_, m, err := s.Commit(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		total, cpu = total+time.Since(start), cpu+cpuTime()-cpu0
		bytes = tableBytes(m, spec.Name)
	}
	b.ReportMetric(float64(benchRows*b.N)/total.Seconds(), "rows/s")
	b.ReportMetric(float64(benchRows*b.N)/cpu.Seconds(), "rows/cpu_s")
	b.ReportMetric(float64(bytes)/benchRows, "bytes/row")
}

// BenchmarkReadMemberships reads the memberships tables of one run, as the
// transform does: OTDS_BENCH_MEMBERSHIPS=<artifact store dir>:<run id>
// (e.g. a kept bench-nightly state's day-2 run). Skipped without it.
func BenchmarkReadMemberships(b *testing.B) {
	v := os.Getenv("OTDS_BENCH_MEMBERSHIPS")
	if v == "" {
		b.Skip("OTDS_BENCH_MEMBERSHIPS=<store dir>:<run id> not set")
	}
	dir, run, _ := strings.Cut(v, ":")
	st, err := store.NewFileStore(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	var n, bytes int
	for i := 0; i < b.N; i++ {
		err := ReadParts(ctx, st, run, contract.MembershipsSpec, func(m contract.Membership) error {
			n++
			bytes += len(m.GroupDN) + len(m.MemberDN)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 || bytes == 0 {
		b.Fatalf("OTDS_BENCH_MEMBERSHIPS=%s: no memberships read", v)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(float64(n)/(cpuTime()-cpu0).Seconds(), "rows/cpu_s")
}
