package apply_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/apply"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
	"github.com/otds-highspot/otds-highspot/load/internal/loadtest"
)

// serveTCP serves a sandbox on a real loopback listener.
func serveTCP(b *testing.B, seed sandbox.Seed) (*sandbox.Server, string) {
	b.Helper()
	sb, err := sandbox.New(sandbox.Options{Seed: &seed, RandSeed: 1})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go func() { _ = sb.Serve(ctx, ln) }()
	return sb, "http://" + ln.Addr().String()
}

func hexID(prefix, i int) string { return fmt.Sprintf("%08x%016x", prefix, i) }

// BenchmarkApply2000 applies 2,000 single-request changes (add_member with
// known user and group ids) against the sandbox over loopback TCP at a
// 100 requests/s limit: the ideal is 20 s (the first token is free: 19.99 s).
// It then applies 2,000 creates through POST /users in batches of 50 and one
// by one, at the same limit, and reports the batching gain. Run once:
//
//	go test ./load -run '^$' -bench Apply2000 -benchtime 1x
func BenchmarkApply2000(b *testing.B) {
	const n, rps = 2000, 100.0
	var seed sandbox.Seed
	for g := range 20 {
		seed.Groups = append(seed.Groups, sandbox.SeedGroup{ID: hexID(0xb0, g), Name: fmt.Sprint("G", g)})
	}
	var changes []contract.Change
	for i := range n {
		e := fmt.Sprintf("u%04d@corp.example", i)
		seed.Users = append(seed.Users, sandbox.User{ID: hexID(0xa0, i), Email: e, Verified: true})
		changes = append(changes, contract.Change{ChangeID: fmt.Sprint("m", i), Seq: int64(i), Op: contract.OpAddMember,
			Email: e, HighspotID: hexID(0xa0, i), Group: fmt.Sprint("G", i%20), GroupID: hexID(0xb0, i%20)})
	}
	opts := func(batch int) load.ApplyOptions {
		return load.ApplyOptions{RatePerSecond: rps, Burst: 1, Concurrency: 4, BatchSize: batch, Classify: loadtest.Classify,
			FlushEvery: 100, BackoffBase: 10 * time.Millisecond}
	}
	for b.Loop() {
		sb, root := serveTCP(b, seed)
		target, err := sandbox.Client("rest", root, &http.Client{Timeout: 10 * time.Second}, loadtest.Log())
		if err != nil {
			b.Fatal(err)
		}
		sum, err := apply.Apply(b.Context(), target, changes, apply.NewMemLedger(nil), opts(0), loadtest.Log())
		if err != nil || sum.Applied != n {
			b.Fatalf("apply: applied %d of %d: %v", sum.Applied, n, err)
		}
		reqs := sb.Counters()["total"]
		ideal := time.Duration(float64(reqs-1) / rps * float64(time.Second))
		b.ReportMetric(sum.Elapsed.Seconds(), "elapsed_s")
		b.ReportMetric(ideal.Seconds(), "ideal_s")
		b.ReportMetric(100*ideal.Seconds()/sum.Elapsed.Seconds(), "utilisation_%")
		b.ReportMetric(float64(reqs), "requests")

		// Batching gain of POST /users: the same 2,000 creates, 50 per request vs 1.
		var creates []contract.Change
		for i := range n {
			e := fmt.Sprintf("new%04d@corp.example", i)
			creates = append(creates, contract.Change{ChangeID: fmt.Sprint("c", i), Seq: int64(i), Op: contract.OpCreateUser,
				Email: e, After: fmt.Sprintf(`{"name":"N%d","surname":"S","display_name":"N%d S"}`, i, i)})
		}
		var took [2]time.Duration
		var reqsBy [2]int64
		for k, batch := range []int{50, 1} {
			sb2, root2 := serveTCP(b, sandbox.Seed{})
			t2, err := sandbox.Client("rest", root2, &http.Client{Timeout: 10 * time.Second}, loadtest.Log())
			if err != nil {
				b.Fatal(err)
			}
			sum, err := apply.Apply(b.Context(), t2, creates, apply.NewMemLedger(nil), opts(batch), loadtest.Log())
			if err != nil || sum.Applied != n {
				b.Fatalf("creates (batch %d): applied %d of %d: %v", batch, sum.Applied, n, err)
			}
			took[k], reqsBy[k] = sum.Elapsed, sb2.Counters()["total"]
		}
		b.ReportMetric(took[0].Seconds(), "batched50_s")
		b.ReportMetric(took[1].Seconds(), "single_s")
		b.ReportMetric(float64(reqsBy[0]), "batched50_requests")
		b.ReportMetric(float64(reqsBy[1]), "single_requests")
		b.ReportMetric(took[1].Seconds()/took[0].Seconds(), "batching_gain_x")
	}
}
