package config

import (
	"strings"
	"testing"
	"time"
)

func TestOperateDefaultsAndValidation(t *testing.T) {
	var o Operate
	o.applyDefaults()
	if errs := o.validate("operate"); len(errs) != 0 {
		t.Fatalf("empty section: got %v, want valid", errs)
	}
	if !o.History.On() || o.Analytics.Enabled || o.Prune.KeepDays != 90 || o.Prune.KeepRuns != 3 || o.Prune.OrphanGrace != 72*time.Hour {
		t.Errorf("defaults: got %+v", o)
	}
	off := false
	o.History.Enabled = &off
	if o.History.On() {
		t.Errorf("history.enabled false: got on")
	}

	bad := Operate{
		Analytics: Analytics{Enabled: true, Columns: map[string][]string{"people": {"x"}}},
		Prune:     Prune{KeepDays: -1, OrphanGrace: -time.Hour},
	}
	bad.applyDefaults()
	msg := bad.validate("operate").Error()
	for _, want := range []string{"operate.analytics.key", "operate.analytics.columns.people", "operate.prune.keep_days", "operate.prune.orphan_grace"} {
		if !strings.Contains(msg, want) {
			t.Errorf("got %s, want a problem at %s", msg, want)
		}
	}
}

func TestOperateYAML(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`version: 1
trees:
  - name: acme
    source: ldap
    ldap: {url: "ldap://127.0.0.1:38389", bind_dn: cn=x, bind_password: {env: OTDS_PW}}
operate:
  history: {enabled: false}
  analytics:
    enabled: true
    key: {env: OTDS_ANALYTICS_KEY}
    columns: {persons: [person_id, primary_email]}
  prune: {keep_days: 30, keep_runs: 5, orphan_grace: 24h}
`))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Operate
	if o.History.On() || !o.Analytics.Enabled || o.Analytics.Key.Env != "OTDS_ANALYTICS_KEY" ||
		len(o.Analytics.Columns["persons"]) != 2 || o.Prune.KeepDays != 30 || o.Prune.KeepRuns != 5 || o.Prune.OrphanGrace != 24*time.Hour {
		t.Errorf("got %+v", o)
	}
}
