package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
)

// DefaultMaxListPages is the page budget of one listing (1,000,000 users at
// 100 a page, ten times over) when PullOptions.MaxListPages is not set.
const DefaultMaxListPages = 100_000

// ErrListLoop marks a listing the server never ends: a cursor or a page's
// content seen before, more items than the server's own total, or more pages
// than the budget. It is not retryable: the same server would loop again.
var ErrListLoop = errors.New("the server does not end the listing")

// listPolicy is what a Target's page walker gets from the caller through the
// context: how to retry one page, and the page budget.
type listPolicy struct {
	retry    func(ctx context.Context, what string, fn func(context.Context) error) error
	maxPages int
}

type listPolicyKey struct{}

// WithListPolicy returns ctx carrying the list policy of a listing: retry
// fetches one page (RetryPage), maxPages is each listing's page budget
// (<= 0: DefaultMaxListPages).
func WithListPolicy(ctx context.Context, maxPages int, retry func(ctx context.Context, what string, fn func(context.Context) error) error) context.Context {
	return context.WithValue(ctx, listPolicyKey{}, &listPolicy{maxPages: maxPages, retry: retry})
}

// RetryPage fetches one page of a listing through the caller's retry policy
// (pull installs its Caller's: retryable errors only, backoff with full
// jitter or the server's Retry-After, MaxAttempts tries), so one failed page
// is fetched again at the same cursor instead of restarting the listing.
// Without a policy in ctx it calls fn once. Page walkers (load/highspot)
// call it around each page request.
func RetryPage(ctx context.Context, what string, fn func(context.Context) error) error {
	if p, ok := ctx.Value(listPolicyKey{}).(*listPolicy); ok && p.retry != nil {
		return p.retry(ctx, what, fn)
	}
	return fn(ctx)
}

// ListGuard stops a page walker that would otherwise run forever (and hold
// the run lock): Page is called for every page, before the walker decides
// whether to ask for another one.
type ListGuard struct {
	what     string
	maxPages int
	pages    int
	items    int // distinct items passed on
	maxTotal int // the largest total the server reported (-1: none)
	cursors  map[string]int
	contents map[[2]uint64]string // a page's content (two seeded hashes) -> its cursor
	seeds    [2]maphash.Seed
}

// NewListGuard starts the guard of one listing (what names it in errors);
// the page budget comes from ctx (pull's MaxListPages), else
// DefaultMaxListPages.
func NewListGuard(ctx context.Context, what string) *ListGuard {
	g := &ListGuard{what: what, maxPages: DefaultMaxListPages, maxTotal: -1, cursors: map[string]int{}, contents: map[[2]uint64]string{},
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	if p, ok := ctx.Value(listPolicyKey{}).(*listPolicy); ok && p.maxPages > 0 {
		g.maxPages = p.maxPages
	}
	return g
}

// Page records one page: the cursor it was fetched with (start index,
// cookie, ...), its raw items, how many of them were new (not seen on an
// earlier page) and the total the server reported (< 0 when it sent none).
// The error wraps ErrListLoop and says what repeated.
func (g *ListGuard) Page(cursor string, items []json.RawMessage, fresh, total int) error {
	g.pages++
	g.items += fresh
	if total > g.maxTotal {
		g.maxTotal = total
	}
	if prev, ok := g.cursors[cursor]; ok {
		return fmt.Errorf("list %s: page %d was fetched with cursor %q again (first used for page %d): %w; stopping rather than looping", g.what, g.pages, cursor, prev, ErrListLoop)
	}
	g.cursors[cursor] = g.pages
	// A page with nothing new is the walker's own business (many servers
	// answer past the end with the last page again); a page with new items
	// and the same content as an earlier one has items without ids.
	// Pages are told apart by two 64-bit hashes with random seeds (a
	// server cannot aim at a collision; a chance one is 2^-128 per pair):
	// sha256 cost a pull at 1M about 5% of its CPU.
	if fresh > 0 {
		var sum [2]uint64
		for k, seed := range g.seeds {
			var h maphash.Hash
			h.SetSeed(seed)
			for _, raw := range items {
				h.Write(raw)
				h.WriteByte(0)
			}
			sum[k] = h.Sum64()
		}
		if prev, ok := g.contents[sum]; ok {
			return fmt.Errorf("list %s: the page at cursor %q repeats the page at cursor %q item for item: %w; stopping rather than looping", g.what, cursor, prev, ErrListLoop)
		}
		g.contents[sum] = cursor
	}
	if g.maxTotal >= 0 && g.items > g.maxTotal {
		return fmt.Errorf("list %s: %d items listed by cursor %q, more than the %d the server reports in all: %w; stopping rather than looping", g.what, g.items, cursor, g.maxTotal, ErrListLoop)
	}
	if g.pages > g.maxPages {
		return fmt.Errorf("list %s: more than %d pages and the server still has more: %w; stopping (raise highspot.max_list_pages if the tenant is really this large)", g.what, g.maxPages, ErrListLoop)
	}
	return nil
}
