package pipelines

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/extract"
	"github.com/otds-highspot/otds-highspot/extract/otdsrest"
	"github.com/otds-highspot/otds-highspot/extract/sources"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/transform"
	"github.com/otds-highspot/otds-highspot/transform/analytics"
)

// errProbeDone stops a source after its first row: doctor only needs to know
// that connect, bind/authenticate, search and mapping work.
var errProbeDone = errors.New("probe: first row read")

type probeSink struct{ accounts, groups int }

func (p *probeSink) Account(contract.Account) error { p.accounts++; return errProbeDone }
func (p *probeSink) Group(contract.Group) error     { p.groups++; return nil }
func (p *probeSink) Member(string, string, string, string, string) error {
	return nil
}
func (p *probeSink) Reject(contract.Reject) error { return nil }

var _ extract.Sink = (*probeSink)(nil)

// check is one doctor finding.
type check struct {
	What   string `json:"what"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Doctor checks each tree, the store and Highspot with the configured
// credentials and says in plain words what is wrong and how to fix it.
func (a *App) Doctor(ctx context.Context) error {
	var checks []check
	add := func(c check) {
		checks = append(checks, c)
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(a.Stdout, "[%s] %-28s %s\n", mark, c.What, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(a.Stdout, "       fix: %s\n", c.Fix)
		}
	}
	add(check{What: "configuration", OK: true, Detail: fmt.Sprintf("%s valid (%d trees, sha256 %s)", a.configName(), len(a.Cfg.Trees), a.Cfg.Hash[:12])})

	add(a.checkStore(ctx))

	add(a.checkOverrides(ctx))
	add(a.checkAnalytics())
	for _, c := range a.checkCAFiles() {
		add(c)
	}

	factory := sources.Factory(sources.Deps{Getenv: a.Getenv, Log: a.Log, HTTP: &http.Client{Timeout: time.Minute}, OpenLDIF: a.openPath, NewREST: otdsrest.New})
	for _, t := range a.Cfg.Trees {
		add(a.checkTree(ctx, t.Name, t.Source, func() (extract.Source, error) { return factory(t) }))
	}
	add(a.checkHighspot(ctx))

	failed := 0
	for _, c := range checks {
		if !c.OK {
			failed++
		}
	}
	a.Summary.Details = map[string]any{"checks": checks}
	if failed > 0 {
		return exitcode.New(exitcode.Usage, "doctor: %d of %d checks failed (see above)", failed, len(checks))
	}
	fmt.Fprintln(a.Stdout, "all checks passed")
	return nil
}

func (a *App) configName() string {
	if a.Embedded {
		return "embedded demo configuration"
	}
	return a.Cfg.Path
}

func (a *App) checkStore(ctx context.Context) check {
	c := check{What: "store " + a.Store.URL("")}
	if a.StoreErr != nil {
		c.Detail = "cannot open: " + a.StoreErr.Error()
		c.Fix = advice(a.StoreErr, "check store.url, the bucket, the endpoint and region, and the credentials")
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The probe lives under _locks/, which Object Lock retention exempts, so
	// it can be removed again.
	key := fmt.Sprintf("_locks/doctor-probe-%d", time.Now().UnixNano())
	data := []byte("otds-highspot doctor probe\n")
	if err := a.Store.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		c.Detail = "cannot write: " + err.Error()
		c.Fix = advice(err, "check the bucket/folder exists and the credentials (AWS_* env, instance role) may write to it")
		return c
	}
	if err := a.Store.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err == nil {
		c.Detail = "a second write to the same key succeeded: this store does not enforce write-once"
		c.Fix = "use a store that honours If-None-Match: * (AWS S3, versitygw, MinIO ≥ 2024) or set store.s3 options accordingly"
		_ = a.Store.Delete(ctx, key)
		return c
	}
	if _, err := a.Store.Stat(ctx, key); err != nil {
		c.Detail = "wrote a probe but cannot read it back: " + err.Error()
		return c
	}
	if err := a.Store.Delete(ctx, key); err != nil {
		c.Detail = "cannot delete the probe (the run lock needs delete): " + err.Error()
		c.Fix = "grant s3:DeleteObject on the _locks/ prefix"
		return c
	}
	runs, err := artifact.ListRuns(ctx, a.Store)
	if err != nil {
		c.Detail = "cannot list runs: " + err.Error()
		c.Fix = "grant s3:ListBucket on the bucket"
		return c
	}
	c.OK = true
	c.Detail = fmt.Sprintf("write-once put, read, delete and list work; %d runs stored", len(runs))
	return c
}

// checkOverrides reads and parses transform.overrides.file as transform will.
func (a *App) checkOverrides(ctx context.Context) check {
	key := a.Cfg.Transform.Overrides.File
	c := check{What: "transform overrides file"}
	if key == "" {
		c.OK, c.Detail = true, "none configured (transform.overrides.file)"
		return c
	}
	if a.StoreErr != nil {
		c.Detail = "cannot check " + key + ": the store cannot be opened"
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	o, err := transform.ReadOverrides(ctx, a.Store, key)
	if err != nil {
		c.Detail = err.Error()
		c.Fix = "upload the file to the store at that key, or fix transform.overrides.file"
		return c
	}
	c.OK, c.Detail = true, fmt.Sprintf("%s: %d force_link, %d force_split", a.Store.URL(key), len(o.ForceLink), len(o.ForceSplit))
	return c
}

// checkAnalytics resolves operate.analytics.key and checks it as the
// analytics stage will (only when the copy is enabled).
func (a *App) checkAnalytics() check {
	c := check{What: "analytics key"}
	if !a.Cfg.Operate.Analytics.Enabled {
		c.OK, c.Detail = true, "the analytics copy is off (operate.analytics.enabled)"
		return c
	}
	opts, err := analytics.OptionsFromConfig(a.Cfg.Operate.Analytics, a.Getenv)
	if err == nil {
		_, err = analytics.NewHasher([]byte(opts.Key.Reveal()))
	}
	if err != nil {
		c.Detail = err.Error()
		c.Fix = advice(err, "set operate.analytics.key to a secret of at least 16 random bytes (openssl rand -hex 32)")
		return c
	}
	c.OK, c.Detail = true, "operate.analytics.key resolves and is long enough"
	return c
}

// checkCAFiles reads every configured ca_file and parses its certificates
// (a tree whose server is down would otherwise hide a broken bundle).
func (a *App) checkCAFiles() []check {
	var out []check
	for _, t := range a.Cfg.Trees {
		for _, f := range []struct{ key, path string }{
			{"trees." + t.Name + ".ldap.ca_file", t.LDAP.CAFile},
			{"trees." + t.Name + ".rest.ca_file", t.Rest.CAFile},
		} {
			if f.path == "" {
				continue
			}
			c := check{What: f.key}
			data, err := os.ReadFile(f.path) // as the sources read it
			if err == nil && !x509.NewCertPool().AppendCertsFromPEM(data) {
				err = fmt.Errorf("%s holds no PEM certificate", f.path)
			}
			if err != nil {
				c.Detail = err.Error()
				c.Fix = advice(err, "point ca_file at the PEM bundle of the CA that signed the server certificate")
			} else {
				c.OK, c.Detail = true, f.path+": PEM certificates parse"
			}
			out = append(out, c)
		}
	}
	return out
}

func (a *App) checkTree(ctx context.Context, name, kind string, build func() (extract.Source, error)) check {
	c := check{What: fmt.Sprintf("tree %s (%s)", name, kind)}
	src, err := build()
	if err != nil {
		c.Detail = err.Error()
		c.Fix = advice(err, "fix the tree's settings in the configuration")
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	sink := &probeSink{}
	err = src.Read(ctx, sink)
	switch {
	case errors.Is(err, errProbeDone):
		c.OK = true
		c.Detail = "connected, authenticated and read a first account"
	case err == nil && sink.accounts == 0:
		c.Detail = "the read completed but found no accounts"
		c.Fix = "check base_dn, partitions, user_object_class and filters: an empty tree never publishes"
	case err == nil:
		c.OK = true
		c.Detail = "read completed"
	default:
		c.Detail = err.Error()
		c.Fix = advice(err, "")
	}
	return c
}

func (a *App) checkHighspot(ctx context.Context) check {
	c := check{What: "highspot (" + a.Cfg.Highspot.Target + ")"}
	t, stop, err := a.target(ctx)
	if err != nil {
		c.Detail = err.Error()
		c.Fix = advice(err, "fix the highspot: section")
		return c
	}
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := t.FindUserByEmail(ctx, "otds-highspot-doctor-probe@invalid.example"); err != nil {
		c.Detail = "user lookup failed: " + err.Error()
		c.Fix = advice(err, "")
		return c
	}
	// The first page of users, as pull asks for it (page size included).
	errFirstUser := errors.New("first user read")
	if err := t.ListUsers(ctx, func(load.User) error { return errFirstUser }); err != nil && !errors.Is(err, errFirstUser) {
		c.Detail = "user listing failed (does the server accept highspot page_size?): " + err.Error()
		c.Fix = advice(err, "lower the highspot page_size, or check the credentials' permissions")
		return c
	}
	groups := 0
	have := map[string]bool{}
	if err := t.ListGroups(ctx, func(g load.Group) error {
		groups++
		have[g.Name] = true
		return nil
	}); err != nil {
		c.Detail = "group listing failed: " + err.Error()
		c.Fix = advice(err, "")
		return c
	}
	// Managed groups must exist: the applier creates them only with
	// highspot.create_missing_groups (and then the finding still stands
	// until a plan and apply have run).
	var missing []string
	for _, g := range a.Cfg.Policy.ManagedGroups {
		if !have[g] {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		c.Detail = fmt.Sprintf("authenticated; %d groups visible, but managed groups are missing in Highspot: %s", groups, strings.Join(missing, ", "))
		c.Fix = "create these groups in Highspot (and share their spots), set highspot.create_missing_groups: true to have the next plan create them, or remove them from policy.managed_groups"
		if a.Cfg.Highspot.CreateMissingGroups {
			c.Fix = "highspot.create_missing_groups is on: the next plan creates them (create_group changes); share their spots in Highspot once they exist"
		}
		return c
	}
	c.OK = true
	c.Detail = fmt.Sprintf("authenticated; user lookup and listing (configured page size) work; %d groups visible, every managed group exists", groups)
	return c
}

// statusCode matches an HTTP status code standing as a number of its own in a
// lower-cased message ("status 403", "403 forbidden", "(403)", "got 403."),
// not digits inside a temp path, an id or a version (/tmp/TestDoctor1296644031,
// 5f401a, /srv/403/, v1.403).
var statusCode = regexp.MustCompile(`(?:^|[^0-9a-z_./-])(40[13])(?:$|[^0-9a-z_/])`)

func hasStatus(m, code string) bool {
	for _, g := range statusCode.FindAllStringSubmatch(m, -1) {
		if g[1] == code {
			return true
		}
	}
	return false
}

// advice turns common failures into what to do.
func advice(err error, fallback string) string {
	m := strings.ToLower(err.Error())
	switch {
	case strings.Contains(m, "environment variable"):
		return "export the variable named above (secrets come only from env vars or files)"
	case strings.Contains(m, "connection refused"), strings.Contains(m, "no such host"), strings.Contains(m, "i/o timeout"):
		return "the server is not reachable: check the URL/port and the network path from this host"
	case strings.Contains(m, "invalid credentials"), strings.Contains(m, "result code 49"):
		return "the bind DN or password is wrong (or the account is locked)"
	case strings.Contains(m, "x509"), strings.Contains(m, "certificate"):
		return "TLS verification failed: set ca_file to the CA that signed the server certificate, or server_name to the name in it"
	case hasStatus(m, "401"), strings.Contains(m, "could not authenticate"):
		return "the API key/secret (or token) is wrong or expired; generate new ones and update the referenced env var or file"
	case hasStatus(m, "403"):
		return "the credentials authenticate but lack permission (admin rights, impersonation enabled for the API client?)"
	case strings.Contains(m, "no such file"):
		return "the file does not exist at that path"
	case strings.Contains(m, "get credentials"), strings.Contains(m, "no ec2 imds role"):
		return "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run with an instance/pod role"
	case strings.Contains(m, "nosuchbucket"), strings.Contains(m, "bucket"):
		return "create the bucket, or fix store.url"
	}
	return fallback
}
