package analytics_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/transform/analytics"
)

const key = "0123456789abcdef0123456789abcdef"

func hasher(t *testing.T, k string) *analytics.Hasher {
	t.Helper()
	h, err := analytics.NewHasher([]byte(k))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestToken(t *testing.T) {
	h1, h2 := hasher(t, key), hasher(t, "another key, 16+ bytes")
	first, again := h1.Token("ann@x.com"), h1.Token("ann@x.com")
	tests := []struct {
		name string
		got  bool
	}{
		{"same value, same key: same token", first == again},
		{"different key: different token", h1.Token("ann@x.com") != h2.Token("ann@x.com")},
		{"different value: different token", h1.Token("ann@x.com") != h1.Token("bob@x.com")},
		{"token length", len(h1.Token("a")) == analytics.TokenHexLen},
		{"empty stays empty", h1.Token("") == ""},
		{"token is not the value", !strings.Contains(h1.Token("ann@x.com"), "ann")},
	}
	for _, tt := range tests {
		if !tt.got {
			t.Errorf("%s: got false, want true", tt.name)
		}
	}
	if _, err := analytics.NewHasher([]byte("short")); err == nil {
		t.Errorf("short key: got no error")
	}
}

func TestTokenizerPersons(t *testing.T) {
	h := hasher(t, key)
	tz, err := analytics.NewTokenizer[contract.Person](h, []string{"region", "title", "groups", "attributes.cost_center"})
	if err != nil {
		t.Fatal(err)
	}
	mod := time.Date(2026, 3, 1, 14, 30, 5, 0, time.UTC)
	p := contract.Person{PersonID: "p1", PrimaryEmail: "Ann@X.com", Emails: []string{"ann@x.com", "ANN@old.x.com"},
		GivenName: "Ann", Surname: "Lee", Region: "emea", Title: "AE", Department: "Sales", Groups: []string{"acme:sales"}, IsService: true,
		AccountKeys: []string{"acme/1"}, SourceOf: map[string]string{"email": "acme/1"}, Attributes: map[string]string{"cost_center": "C1", "external_id": "JDoe@Acme.com"},
		ModifiedAt: &mod}
	got := tz.Apply(p)
	if got.PrimaryEmail != h.Token("ann@x.com") {
		t.Errorf("primary_email: got %q, want the token of the case-folded address", got.PrimaryEmail)
	}
	if !slices.Contains(got.Emails, got.PrimaryEmail) || !slices.Contains(got.Emails, h.Token("ann@old.x.com")) {
		t.Errorf("emails: got %q, want tokens of both case-folded addresses", got.Emails)
	}
	if got.PersonID != h.Token("p1") || got.GivenName != h.Token("Ann") || got.Surname != h.Token("Lee") || got.Department != h.Token("Sales") {
		t.Errorf("person_id/names/department not hashed: %+v", got)
	}
	if got.SourceOf["email"] != h.Token("acme/1") || got.AccountKeys[0] != h.Token("acme/1") {
		t.Errorf("source_of / account_keys: got %v %v, want tokens equal to account_key's", got.SourceOf, got.AccountKeys)
	}
	if got.Attributes["external_id"] != h.Token("JDoe@Acme.com") {
		t.Errorf("attributes.external_id: got %q, want the token of the value", got.Attributes["external_id"])
	}
	if got.IsService {
		t.Errorf("is_service: got true, want zeroed (not allowed)")
	}
	if got.ModifiedAt == nil || !got.ModifiedAt.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("modified_at: got %v, want generalised to the day", got.ModifiedAt)
	}
	if got.Region != "emea" || got.Title != "AE" || got.Groups[0] != "acme:sales" || got.Attributes["cost_center"] != "C1" {
		t.Errorf("allowed columns changed: %+v", got)
	}
	if p.PrimaryEmail != "Ann@X.com" || p.Emails[0] != "ann@x.com" || p.SourceOf["email"] != "acme/1" || !p.ModifiedAt.Equal(mod) {
		t.Errorf("Apply modified its input: %+v", p)
	}
	for _, bad := range [][]string{{"nope"}, {"is_service.x"}, {"attributes."}, {"nope.x"}} {
		if _, err := analytics.NewTokenizer[contract.Person](h, bad); err == nil {
			t.Errorf("allow %q: got no error", bad)
		}
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const runID = "20260301T020000Z-aaaa"
	env := artifact.Env{Store: st, RunID: runID, TempDir: t.TempDir()}
	s := artifact.NewStage(env, "transform")
	pw, _ := artifact.OpenTable[contract.Person](s, contract.PersonsSpec)
	aw, _ := artifact.OpenTable[contract.AccountNormalized](s, contract.AccountsNormalizedSpec)
	lw, err := artifact.OpenTable[contract.PersonLink](s, contract.PersonLinksSpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		pw.Write(contract.Person{PersonID: "p1", PrimaryEmail: "ann@x.com", Region: "emea"}),
		aw.Write(contract.AccountNormalized{AccountKey: "acme/1", Emails: []string{"Ann@X.com"}, Login: "ann", Country: "DE"}),
		lw.Write(contract.PersonLink{AccountKey: "acme/1", PersonID: "p1", Rule: "email", Key: "ann@x.com"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	env.Store = st
	opts, err := analytics.OptionsFromConfig(config.Analytics{Enabled: true, Key: config.SecretRef{Env: "K"}},
		func(v string) string {
			if v == "K" {
				return key
			}
			return ""
		})
	if err != nil {
		t.Fatal(err)
	}
	res, err := analytics.Run(ctx, env, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"analytics_persons": 1, "analytics_accounts_normalized": 1, "analytics_person_links": 1}
	for k, v := range want {
		if res.Rows[k] != v {
			t.Errorf("rows of %s: got %d, want %d", k, res.Rows[k], v)
		}
	}
	m, _, err := artifact.ReadManifest(ctx, st, runID, contract.Analytics)
	if err != nil {
		t.Fatal(err)
	}
	persons, err := artifact.ReadAll[contract.Person](ctx, st, m, analytics.PersonsSpec)
	if err != nil {
		t.Fatal(err)
	}
	accts, err := artifact.ReadAll[contract.AccountNormalized](ctx, st, m, analytics.AccountsNormalizedSpec)
	if err != nil {
		t.Fatal(err)
	}
	links, err := artifact.ReadAll[contract.PersonLink](ctx, st, m, analytics.PersonLinksSpec)
	if err != nil {
		t.Fatal(err)
	}
	// Joins still work across the copies; raw values are gone.
	if persons[0].PersonID != links[0].PersonID || links[0].AccountKey != accts[0].AccountKey || persons[0].PrimaryEmail != accts[0].Emails[0] {
		t.Errorf("tokens do not join: persons %+v, links %+v, accounts %+v", persons[0], links[0], accts[0])
	}
	if persons[0].PersonID == "p1" || accts[0].Login == "ann" || links[0].Key == "ann@x.com" {
		t.Errorf("raw PII left in the copy")
	}
	if persons[0].Region != hasher(t, key).Token("emea") || accts[0].Country != hasher(t, key).Token("DE") || links[0].Rule != "email" {
		t.Errorf("region/country: got %q/%q, want tokens (not allowed by default); rule: got %q, want it in clear", persons[0].Region, accts[0].Country, links[0].Rule)
	}

	if _, err := analytics.OptionsFromConfig(config.Analytics{Enabled: true, Key: config.SecretRef{Env: "MISSING"}}, func(string) string { return "" }); err == nil {
		t.Errorf("missing key: got no error")
	}
}
