package extract_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/extract"
	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/extract/ldif"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// failingExport is an LDIF export whose read fails with err after limit bytes.
type failingExport struct {
	r     io.Reader
	limit int
	err   error
}

func (f *failingExport) Read(p []byte) (int, error) {
	if f.limit == 0 {
		return 0, f.err
	}
	n, err := f.r.Read(p[:min(len(p), f.limit)])
	f.limit -= n
	return n, err
}

func (f *failingExport) Close() error { return nil }

// TestLDIFReadErrorMidFilePublishesNothing: an LDIF export whose read fails
// half-way (the records before it parsed and written by then) fails its
// tree with the tree, the path and the cause, publishes nothing of it, and
// the other tree is published.
func TestLDIFReadErrorMidFilePublishesNothing(t *testing.T) {
	const base = "ou=Root,ou=P1,ou=IdentityProviders,dc=identity,dc=opentext,dc=net"
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, "dn: cn=u%d,%s\nobjectClass: oTPerson\ncn: u%d\nmail: u%d@x.example\nentryUUID: 00000000-0000-0000-0000-%012d\n\n", i, base, i, i, i)
	}
	text := b.String()
	boom := errors.New("connection reset by peer")
	y := "version: 1\nextract: {concurrency: 2}\ntrees:\n" +
		"  - {name: bad, source: ldif, ldif: {path: bad.ldif}}\n" +
		"  - {name: good, source: ldif, ldif: {path: good.ldif}}\n"
	factory := func(tree extractconf.Tree) (extract.Source, error) {
		return ldif.New(tree, func(_ context.Context, path string) (io.ReadCloser, error) {
			if path == "bad.ldif" {
				return &failingExport{r: strings.NewReader(text), limit: len(text) / 2, err: boom}, nil
			}
			return io.NopCloser(strings.NewReader(text)), nil
		}, logrus.New())
	}
	st, _ := store.NewFileStore(t.TempDir())
	env := newEnv(t, st, time.Date(2025, 6, 1, 6, 0, 0, 0, time.UTC))
	res, err := extract.Run(context.Background(), env, testConfig(t, y), extract.Options{NewSource: factory})
	if !errors.Is(err, boom) || exitcode.Of(err) != exitcode.Transient {
		t.Fatalf("Run: got %v (exit %d), want %q with exit %d", err, exitcode.Of(err), boom, exitcode.Transient)
	}
	bad, good := res.Trees[0], res.Trees[1]
	if want := `tree bad: read incomplete, nothing published: tree bad: read ldif "bad.ldif": read ldif after line`; bad.Status != extract.StatusFailed || !strings.HasPrefix(bad.Error, want) {
		t.Errorf("tree bad: got %s %q, want failed, %q...", bad.Status, bad.Error, want)
	}
	if _, _, err := artifact.ReadManifest(context.Background(), st, env.RunID, "extract.bad"); !errors.Is(err, artifact.ErrNotPublished) {
		t.Errorf("manifest of tree bad: got %v, want ErrNotPublished", err)
	}
	if good.Status != extract.StatusPublished || good.Accounts != 3000 {
		t.Errorf("tree good: got %s with %d accounts, want published with 3000", good.Status, good.Accounts)
	}
}

// orderSource is a tree that notes when it starts and ends in a shared log.
type orderSource struct {
	name string
	log  *[]string
	mu   *sync.Mutex
}

func (s orderSource) Read(ctx context.Context, sink extract.Sink) error {
	s.mu.Lock()
	*s.log = append(*s.log, "start "+s.name)
	s.mu.Unlock()
	err := sink.Account(contract.Account{DN: "cn=a,ou=Root,ou=P1,ou=IdentityProviders,dc=identity,dc=opentext,dc=net",
		SourceID: "00000000-0000-0000-0000-000000000001", Partition: "P1"})
	s.mu.Lock()
	*s.log = append(*s.log, "end "+s.name)
	s.mu.Unlock()
	return err
}

// TestTreesStartInConfigOrder: with fewer slots than trees, trees start in
// the order of the config (an operator lists the largest first), one
// after another with one slot, not in the order goroutines happen to run.
func TestTreesStartInConfigOrder(t *testing.T) {
	var names []string
	y := "version: 1\nextract: {concurrency: 1}\ntrees:\n"
	for i := range 8 {
		names = append(names, fmt.Sprintf("t%d", i))
		y += fmt.Sprintf("  - {name: t%d, source: ldif, ldif: {path: t%d.ldif}}\n", i, i)
	}
	var log []string
	var mu sync.Mutex
	factory := func(tree extractconf.Tree) (extract.Source, error) {
		return orderSource{name: tree.Name, log: &log, mu: &mu}, nil
	}
	st, _ := store.NewFileStore(t.TempDir())
	env := newEnv(t, st, time.Date(2025, 6, 1, 6, 0, 0, 0, time.UTC))
	if _, err := extract.Run(context.Background(), env, testConfig(t, y), extract.Options{NewSource: factory}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var want []string
	for _, n := range names {
		want = append(want, "start "+n, "end "+n)
	}
	if got := strings.Join(log, ", "); got != strings.Join(want, ", ") {
		t.Errorf("trees ran in the order\n%s\nwant\n%s", got, strings.Join(want, ", "))
	}
}
