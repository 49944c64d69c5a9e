// Package load owns what the Highspot stages share: the Target they talk to,
// the classification of its errors, the Caller that paces and retries every
// call, the apply options and the list policy. The stages themselves are
// load/pull (read Highspot back, report drift) and load/apply (apply a
// published change set, resumable through the load_results ledger).
package load

import "context"

// User is a Highspot user as the load stage sees it.
type User struct {
	ID          string
	Email       string
	Name        string
	Surname     string
	DisplayName string
	Suspended   bool
	Verified    bool
	GroupIDs    []string
}

// Group is a Highspot group.
type Group struct {
	ID          string
	Name        string
	Description string
	MemberCount int64
}

// UserInput is the profile sent on create/update.
type UserInput struct {
	Email       string
	Name        string
	Surname     string
	DisplayName string
	Properties  map[string]string
	// ID is the user's Highspot id when the caller knows the user exists
	// (the plan's id, or a lookup of this run); "" otherwise.
	ID string
	// Absent says the caller looked the email up in this run and found no
	// user, so a target that must choose between create and update may
	// create without a lookup of its own. It must still handle a create
	// that conflicts (an earlier, dropped request may have created the user).
	Absent bool
}

// UpsertResult is the per-entry outcome of a batch upsert; Err is non-nil for
// a rejected entry (the batch as a whole may still succeed).
type UpsertResult struct {
	Email   string
	ID      string
	Created bool
	Err     error
}

// Target is what the applier and pull need from Highspot. Implementations:
// load/highspot.REST (Highspot REST v1.0, with configurable endpoints for the
// weakly evidenced writes) and load/highspot.SCIM (SCIM 2.0). Errors carry
// the HTTP status (see load/highspot.StatusError) so the applier can decide
// whether to retry.
type Target interface {
	// FindUserByEmail looks a user up among verified and unverified users; nil, nil when absent.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// UpsertUsers creates or updates users by email (one request per batch where the API allows).
	UpsertUsers(ctx context.Context, users []UserInput) ([]UpsertResult, error)
	SuspendUser(ctx context.Context, u User) error
	ReactivateUser(ctx context.Context, u User) error
	AddMember(ctx context.Context, g Group, u User) error
	RemoveMember(ctx context.Context, g Group, u User) error
	// EnsureGroup returns the group named name, creating it when the target allows.
	FindGroup(ctx context.Context, name string) (*Group, error)
	// ListUsers pages through every user (verified and unverified).
	ListUsers(ctx context.Context, fn func(User) error) error
	ListGroups(ctx context.Context, fn func(Group) error) error
	// MaxBatch is how many users one UpsertUsers request may carry (1 = no batching).
	MaxBatch() int
}

// Pacer paces the HTTP requests a Target sends: Wait blocks until one more
// request may go out (rate limit, a server-requested pause).
type Pacer interface {
	Wait(ctx context.Context) error
}

type pacerKey struct{}

// WithPacer returns ctx carrying p for the Target calls made with it.
func WithPacer(ctx context.Context, p Pacer) context.Context {
	return context.WithValue(ctx, pacerKey{}, p)
}

// Pace waits for the Pacer ctx carries; without one it returns at once.
// Targets call it before every HTTP request they send, so that a call that
// sends several (a lookup, then the write) takes a token for each.
func Pace(ctx context.Context) error {
	if p, ok := ctx.Value(pacerKey{}).(Pacer); ok {
		return p.Wait(ctx)
	}
	return ctx.Err()
}

// RequestPacer is implemented by Targets that call Pace before every HTTP
// request (load/highspot's REST and SCIM clients). The applier then paces
// and counts HTTP requests; for other Targets it paces calls.
type RequestPacer interface {
	PacesRequests() bool
}
