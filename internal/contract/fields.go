package contract

import (
	"strings"
	"sync"
)

// Field is one entry of the attribute vocabulary: a logical name and how
// every stage reads, checks, carries and shows it. Each facet is optional;
// a field takes part in a stage only when it has that stage's facet. The
// extract mappers, the null-rate checks, normalize, survivorship, explain,
// the plan's profile fields, the CEL policy environment and the policy memo
// key are all derived from Fields; nothing else lists the vocabulary.
type Field struct {
	// Name is the logical name: the key under trees[].attributes,
	// required_attributes and health.null_rate, the accounts column, and
	// person.<Name> in policy expressions when Policy is set.
	Name string

	// Attr is the OTDS attribute read by default (LDAP, REST and LDIF
	// spell attributes alike); "" when the field is not read from the
	// directory. trees[].attributes.<Name> overrides it.
	Attr string
	// Kind says where the attribute's values land at extract.
	Kind Kind
	// Checked: the field may be listed in required_attributes and have a
	// health.null_rate limit.
	Checked bool
	// Raw is the accounts column holding the raw values as read; nil for an
	// account field without a column of its own: it is stored in
	// Account.Extra[Name].
	Raw func(*Account) *[]string
	// Missing overrides "no non-blank raw value" for fields that are not
	// list columns (guid, modified, created).
	Missing func(*Account) bool
	// Values says which value rule extract applies to each raw value.
	Values Values

	// Normalize says how transform derives the normalized value.
	Normalize Normalize
	// Norm is the accounts_normalized column holding the normalized value;
	// nil stores it in AccountNormalized.Attributes[Name].
	Norm func(*AccountNormalized) *string

	// Label is the name of the survivor value on the person (persons.source_of
	// key and the label explain prints); "" when the field has no column on
	// the person: a field normalized into attributes reaches the person as
	// attributes.<Name> like every other attribute.
	Label string
	// Person is the persons column holding the survivor value (with Label).
	Person func(*Person) *string

	// Policy exposes the field to policy expressions as person.<Name>.
	Policy *PolicyField
	// Profile: the field may fill a Highspot profile field (policy.profile).
	Profile bool
}

// Kind is where a field's values land at extract.
type Kind uint8

// Field kinds.
const (
	// KindAccount: a list column of accounts (or Account.Extra[Name]).
	KindAccount Kind = iota
	// KindEntry: read from every entry into a fixed column of its own
	// (guid, uuid, modified, created).
	KindEntry
	// KindGroup: read from group entries only.
	KindGroup
	// KindDerived: not read from the directory (set by transform or the
	// person rows).
	KindDerived
)

// Values is the value rule extract applies to an account field.
type Values uint8

// Value rules.
const (
	// ValuesText: control characters are cleaned (reject control_characters).
	ValuesText Values = iota
	// ValuesEmail: a value that is not an address is dropped (reject bad_email).
	ValuesEmail
	// ValuesDN: DNs, matched and parsed, never sent as text: kept as read.
	ValuesDN
)

// Normalize is how transform turns raw values into the normalized value.
type Normalize uint8

// Normalize kinds.
const (
	// NormNone: the field is not normalized (conditions see its raw values).
	NormNone Normalize = iota
	// NormFirst: the first non-blank value, cleaned and trimmed, inner
	// white space collapsed.
	NormFirst
	// NormCustom: the normalizer computes the value itself (mail, manager).
	NormCustom
	// NormDerived: a transform.derive target (role, region, ...).
	NormDerived
	// NormStatus: set by the transform.status rules.
	NormStatus
)

// RawValues returns the raw values of f on a.
func (f *Field) RawValues(a *Account) []string {
	if f.Raw != nil {
		return *f.Raw(a)
	}
	return a.Extra[f.Name]
}

// SetRaw stores raw values of f on a.
func (f *Field) SetRaw(a *Account, v []string) {
	if f.Raw != nil {
		*f.Raw(a) = v
		return
	}
	if v == nil {
		delete(a.Extra, f.Name)
		return
	}
	if a.Extra == nil {
		a.Extra = map[string][]string{}
	}
	a.Extra[f.Name] = v
}

// IsMissing reports whether a carries no value of f (blank values count
// as none), as the null-rate checks and required_attributes see it.
func (f *Field) IsMissing(a *Account) bool {
	if f.Missing != nil {
		return f.Missing(a)
	}
	for _, s := range f.RawValues(a) {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

// NormValue returns the normalized value of f on a.
func (f *Field) NormValue(a *AccountNormalized) string {
	if f.Norm != nil {
		return *f.Norm(a)
	}
	return a.Attributes[f.Name]
}

// SetNorm stores the normalized value of f on a ("" stores nothing in
// Attributes).
func (f *Field) SetNorm(a *AccountNormalized, v string) {
	if f.Norm != nil {
		*f.Norm(a) = v
		return
	}
	if v == "" {
		return
	}
	if a.Attributes == nil {
		a.Attributes = map[string]string{}
	}
	a.Attributes[f.Name] = v
}

// StringValue is f on p as text: its persons column, else a string policy
// getter (email: the primary address, case-folded), else attributes.<Name>.
func (f *Field) StringValue(p *Person) string {
	if f.Person == nil && f.Policy != nil && f.Policy.Get != nil {
		if s, ok := f.Policy.Get(p).(string); ok {
			return s
		}
	}
	return f.PersonValue(p)
}

// PersonValue returns the survivor value of f on p.
func (f *Field) PersonValue(p *Person) string {
	if f.Person != nil {
		return *f.Person(p)
	}
	return p.Attributes[f.Name]
}

// builtin is the vocabulary the binary ships.
func builtin() []Field {
	str := &PolicyField{}
	ident := &PolicyField{Identity: true}
	return []Field{
		{Name: "login", Attr: "cn", Checked: true, Raw: func(a *Account) *[]string { return &a.Login },
			Normalize: NormFirst, Norm: func(a *AccountNormalized) *string { return &a.Login }},
		{Name: "mail", Attr: "mail", Checked: true, Values: ValuesEmail, Raw: func(a *Account) *[]string { return &a.Mail },
			Normalize: NormCustom, Norm: func(a *AccountNormalized) *string { return &a.PrimaryEmail },
			Label: "primary_email", Person: func(p *Person) *string { return &p.PrimaryEmail }},
		{Name: "given_name", Attr: "givenName", Checked: true, Raw: func(a *Account) *[]string { return &a.GivenName },
			Normalize: NormFirst, Norm: func(a *AccountNormalized) *string { return &a.GivenName },
			Label: "given_name", Person: func(p *Person) *string { return &p.GivenName }, Policy: ident, Profile: true},
		{Name: "surname", Attr: "sn", Checked: true, Raw: func(a *Account) *[]string { return &a.Surname },
			Normalize: NormFirst, Norm: func(a *AccountNormalized) *string { return &a.Surname },
			Label: "surname", Person: func(p *Person) *string { return &p.Surname }, Policy: ident, Profile: true},
		{Name: "display_name", Attr: "displayName", Checked: true, Raw: func(a *Account) *[]string { return &a.DisplayName },
			Normalize: NormFirst, Norm: func(a *AccountNormalized) *string { return &a.DisplayName },
			Label: "display_name", Person: func(p *Person) *string { return &p.DisplayName }, Policy: ident, Profile: true},
		{Name: "employee_id", Attr: "employeeNumber", Checked: true, Raw: func(a *Account) *[]string { return &a.EmployeeID },
			Normalize: NormFirst, Norm: func(a *AccountNormalized) *string { return &a.EmployeeID },
			Label: "employee_id", Person: func(p *Person) *string { return &p.EmployeeID }, Policy: ident},
		{Name: "title", Attr: "title", Checked: true, Raw: func(a *Account) *[]string { return &a.Title },
			Normalize: NormFirst, Norm: func(a *AccountNormalized) *string { return &a.Title },
			Label: "title", Person: func(p *Person) *string { return &p.Title }, Policy: str, Profile: true},
		{Name: "department", Attr: "oTDepartment", Checked: true, Raw: func(a *Account) *[]string { return &a.Department },
			Normalize: NormFirst, Norm: func(a *AccountNormalized) *string { return &a.Department },
			Label: "department", Person: func(p *Person) *string { return &p.Department }, Policy: str},
		{Name: "company", Attr: "oTCompany", Checked: true, Raw: func(a *Account) *[]string { return &a.Company },
			Normalize: NormFirst, Norm: func(a *AccountNormalized) *string { return &a.Company },
			Label: "company", Person: func(p *Person) *string { return &p.Company }, Policy: str},
		{Name: "country", Attr: "c", Checked: true, Raw: func(a *Account) *[]string { return &a.Country },
			Normalize: NormFirst, Norm: func(a *AccountNormalized) *string { return &a.Country },
			Label: "country", Person: func(p *Person) *string { return &p.Country }, Policy: str},
		{Name: "city", Attr: "l", Checked: true, Raw: func(a *Account) *[]string { return &a.City }},
		{Name: "manager", Attr: "manager", Checked: true, Values: ValuesDN, Raw: func(a *Account) *[]string { return &a.Manager },
			Normalize: NormCustom, Norm: func(a *AccountNormalized) *string { return &a.ManagerDN }},
		{Name: "external_id", Attr: "oTExternalID3", Checked: true, Raw: func(a *Account) *[]string { return &a.ExternalID }},
		{Name: "disabled", Attr: "ds-pwp-account-disabled", Checked: true, Raw: func(a *Account) *[]string { return &a.Disabled }},
		{Name: "locked", Attr: "accountLockedOut", Checked: true, Raw: func(a *Account) *[]string { return &a.Locked }},
		{Name: "service_account", Attr: "oTExtraAttr9", Checked: true, Raw: func(a *Account) *[]string { return &a.ServiceAccount }},
		{Name: "member_of", Attr: "oTMemberOf", Checked: true, Values: ValuesDN, Raw: func(a *Account) *[]string { return &a.MemberOf }},
		{Name: "member", Kind: KindGroup, Attr: "oTMember"},
		{Name: "group_name", Kind: KindGroup, Attr: "cn"},
		{Name: "description", Kind: KindGroup, Attr: "description"},
		{Name: "guid", Kind: KindEntry, Attr: "oTObjectGUID", Checked: true, Missing: func(a *Account) bool { return a.ObjectGUID == "" }},
		{Name: "uuid", Kind: KindEntry, Attr: "entryUUID"},
		{Name: "modified", Kind: KindEntry, Attr: "modifyTimestamp", Checked: true, Missing: func(a *Account) bool { return a.ModifiedAt == nil }},
		{Name: "created", Kind: KindEntry, Attr: "createTimestamp", Checked: true, Missing: func(a *Account) bool { return a.CreatedAt == nil }},
		// set by transform rules, not read from the directory
		{Name: "status", Kind: KindDerived, Normalize: NormStatus, Norm: func(a *AccountNormalized) *string { return &a.Status },
			Label: "status", Person: func(p *Person) *string { return &p.Status }, Policy: str},
		{Name: "role", Kind: KindDerived, Normalize: NormDerived, Norm: func(a *AccountNormalized) *string { return &a.Role },
			Label: "role", Person: func(p *Person) *string { return &p.Role }, Policy: str},
		{Name: "region", Kind: KindDerived, Normalize: NormDerived, Norm: func(a *AccountNormalized) *string { return &a.Region },
			Label: "region", Person: func(p *Person) *string { return &p.Region }, Policy: str},
		{Name: "business_unit", Kind: KindDerived, Normalize: NormDerived, Norm: func(a *AccountNormalized) *string { return &a.BusinessUnit },
			Label: "business_unit", Person: func(p *Person) *string { return &p.BusinessUnit }, Policy: str},
		{Name: "territory", Kind: KindDerived, Normalize: NormDerived, Norm: func(a *AccountNormalized) *string { return &a.Territory },
			Label: "territory", Person: func(p *Person) *string { return &p.Territory }, Policy: str},
		// person-level fields of the policy environment
		{Name: "person_id", Kind: KindDerived, Policy: &PolicyField{Identity: true, Get: func(p *Person) any { return p.PersonID }}},
		{Name: "email", Kind: KindDerived, Policy: &PolicyField{Identity: true, Get: func(p *Person) any { return strings.ToLower(p.PrimaryEmail) }}, Profile: true},
		{Name: "emails", Kind: KindDerived, Policy: &PolicyField{Identity: true, Strings: func(p *Person) []string { return p.Emails }}},
		{Name: "tree", Kind: KindDerived, Policy: &PolicyField{Get: func(p *Person) any { return p.PrimaryTree }}},
		{Name: "trees", Kind: KindDerived, Policy: &PolicyField{Strings: func(p *Person) []string { return p.Trees }}},
		{Name: "groups", Kind: KindDerived, Policy: &PolicyField{Strings: func(p *Person) []string { return p.Groups }}},
		{Name: "is_service", Kind: KindDerived, Policy: &PolicyField{Type: Bool, Get: func(p *Person) any { return p.IsService }}},
		{Name: "attributes", Kind: KindDerived, Policy: &PolicyField{Type: MapString, Get: func(p *Person) any { return p.Attributes }}},
	}
}

var (
	fieldsMu sync.RWMutex
	fields   = builtin()
)

// Fields returns the attribute vocabulary, in table order. The slice is
// shared: read it, do not change it.
func Fields() []Field {
	fieldsMu.RLock()
	defer fieldsMu.RUnlock()
	return fields
}

// FieldByName returns the field called name.
func FieldByName(name string) (*Field, bool) {
	fs := Fields()
	for i := range fs {
		if fs[i].Name == name {
			return &fs[i], true
		}
	}
	return nil, false
}

// Register adds f to the vocabulary until the returned function is called.
// It exists for tests that show a field added to the table reaches every
// stage; the binary's vocabulary is the table above.
func Register(f Field) (unregister func()) {
	fieldsMu.Lock()
	defer fieldsMu.Unlock()
	prev := fields
	fields = append(append([]Field(nil), prev...), f)
	return func() {
		fieldsMu.Lock()
		defer fieldsMu.Unlock()
		fields = prev
	}
}

// FieldNames returns the names of the fields keep accepts, in table order.
func FieldNames(keep func(*Field) bool) []string {
	var out []string
	fs := Fields()
	for i := range fs {
		if keep(&fs[i]) {
			out = append(out, fs[i].Name)
		}
	}
	return out
}

// AccountFields returns the fields that are account list columns (raw
// values read from an attribute), in table order.
func AccountFields() []*Field {
	var out []*Field
	fs := Fields()
	for i := range fs {
		if f := &fs[i]; f.Kind == KindAccount {
			out = append(out, f)
		}
	}
	return out
}
