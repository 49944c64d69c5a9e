package artifact

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/records"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// benchAccount is a realistic directory user: most attributes single-valued,
// a few multi-valued, group memberships and extra attributes.
func benchAccount(i int) records.Account {
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	return records.Account{
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
		Title:          []string{[]string{"Account Executive", "Sales Engineer", "Developer", "Manager"}[i%4]},
		Department:     []string{[]string{"Sales", "Engineering", "Marketing"}[i%3]},
		Company:        []string{"Acme Subsidiary GmbH"},
		Country:        []string{[]string{"DE", "US", "GB", "FR"}[i%4]},
		City:           []string{"Berlin"},
		Manager:        []string{fmt.Sprintf("cn=user%07d,ou=Users,ou=partition-%d,dc=identity", i/10, i%7)},
		Disabled:       []string{"false"},
		MemberOf:       []string{fmt.Sprintf("cn=group%d,ou=Groups", i%100), fmt.Sprintf("cn=group%d,ou=Groups", i%37), "cn=all-staff,ou=Groups"},
		ServiceAccount: nil,
		Extra:          map[string][]string{"region": {"EMEA"}, "territory": {fmt.Sprintf("T%d", i%50)}},
	}
}

const benchRows = 1_000_000

func writeBenchAccounts(b *testing.B, st store.Store, runID string, rows int) (*Manifest, time.Duration) {
	b.Helper()
	env := Env{Store: st, RunID: runID, TempDir: b.TempDir()}
	s := NewStage(env, "extract.acme")
	start := time.Now()
	w, err := OpenTable[records.Account](s, records.AccountsSpec)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < rows; i++ {
		if err := w.Write(benchAccount(i)); err != nil {
			b.Fatal(err)
		}
	}
	_, m, err := s.Commit(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return m, time.Since(start)
}

func tableBytes(m *Manifest, table string) int64 {
	var n int64
	for _, f := range m.Tables[table].Files {
		n += f.Bytes
	}
	return n
}

// BenchmarkWriteAccounts writes 1M account rows per iteration through a
// file:// store (local temp): part files, zstd, upload (hard link), manifest.
// Run: go test -run '^$' -bench Accounts -benchtime 1x -benchmem ./internal/artifact/
func BenchmarkWriteAccounts(b *testing.B) {
	st, err := store.NewFileStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	var bytes int64
	for i := 0; i < b.N; i++ {
		m, d := writeBenchAccounts(b, st, fmt.Sprintf("20261125T%06dZ-bench", i), benchRows)
		total += d
		bytes = tableBytes(m, "accounts")
	}
	b.ReportMetric(float64(benchRows*b.N)/total.Seconds(), "rows/s")
	b.ReportMetric(float64(bytes), "parquet_bytes")
	b.ReportMetric(float64(bytes)/benchRows, "bytes/row")
}

// BenchmarkReadAccounts reads the 1M rows back into records.Account.
func BenchmarkReadAccounts(b *testing.B) {
	st, err := store.NewFileStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	m, _ := writeBenchAccounts(b, st, "20261125T000000Z-bench", benchRows)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var n int
		var mails int
		err := ReadTable(ctx, st, m, records.AccountsSpec, func(a records.Account) error {
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
	b.ReportMetric(float64(tableBytes(m, "accounts")), "parquet_bytes")
}
