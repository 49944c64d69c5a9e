// Package records owns the row types of every table the pipeline publishes,
// and their schema names and versions. A row type is a plain Go struct whose
// `parquet:"column"` tags name the Parquet columns; internal/table turns it
// into an Arrow schema. Supported field types: string, bool, int32, int64,
// float64, time.Time (timestamp[us, UTC], required), *time.Time (nullable),
// *string (nullable), []string (list<string>), map[string]string and
// map[string][]string (map<string, ...>).
//
// Changing a column's meaning or type bumps the table's Version; docs/tables.md
// documents every column.
package contract

import "time"

// Spec names a table and its schema version.
type Spec struct {
	Name    string
	Version int
}

// Table specs, one per published table.
var (
	AccountsSpec             = Spec{"accounts", 1}
	GroupsSpec               = Spec{"groups", 1}
	MembershipsSpec          = Spec{"memberships", 1}
	RejectsSpec              = Spec{"rejects", 1}
	AccountsNormalizedSpec   = Spec{"accounts_normalized", 1}
	EffectiveMembershipsSpec = Spec{"effective_memberships", 1}
	PersonsSpec              = Spec{"persons", 1}
	PersonLinksSpec          = Spec{"person_links", 1}
	MatchReviewSpec          = Spec{"match_review", 1}
	HighspotUsersSpec        = Spec{"highspot_users", 1}
	HighspotGroupsSpec       = Spec{"highspot_groups", 1}
	DriftSpec                = Spec{"drift", 1}
	DesiredUsersSpec         = Spec{"desired_users", 1}
	ChangesSpec              = Spec{"changes", 1}
	LoadResultsSpec          = Spec{"load_results", 1}
	IdentityHistorySpec      = Spec{"identity_history", 1}
	AccessReviewSpec         = Spec{"access_review", 1}
	// AccessHistorySpec: what Highspot held after each run (row type
	// IdentityHistory with access_source "highspot").
	AccessHistorySpec = Spec{"access_history", 1}
)

// ---------------------------------------------------------------- extract

// Account is one user entry as read from a source (raw: lists stay lists,
// nothing normalized). Logical attribute names come from the tree's attribute
// mapping (OTDS defaults: login=cn, mail=mail, employee_id=employeeNumber, ...).
type Account struct {
	Tree       string     `parquet:"tree"`
	Partition  string     `parquet:"partition"`
	DN         string     `parquet:"dn"`
	SourceID   string     `parquet:"source_id"`   // entryUUID (LDAP) / uuid (REST)
	ObjectGUID string     `parquet:"object_guid"` // oTObjectGUID as canonical UUID text, "" when absent
	ModifiedAt *time.Time `parquet:"modified_at"` // modifyTimestamp
	CreatedAt  *time.Time `parquet:"created_at"`  // createTimestamp
	// Mapped attributes, raw values as read (may be empty, may hold several values).
	Login          []string `parquet:"login"`
	Mail           []string `parquet:"mail"`
	GivenName      []string `parquet:"given_name"`
	Surname        []string `parquet:"surname"`
	DisplayName    []string `parquet:"display_name"`
	EmployeeID     []string `parquet:"employee_id"`
	Title          []string `parquet:"title"`
	Department     []string `parquet:"department"`
	Company        []string `parquet:"company"`
	Country        []string `parquet:"country"`
	City           []string `parquet:"city"`
	Manager        []string `parquet:"manager"`
	ExternalID     []string `parquet:"external_id"`     // oTExternalID3 by default
	Disabled       []string `parquet:"disabled"`        // ds-pwp-account-disabled / accountDisabled
	Locked         []string `parquet:"locked"`          // accountLockedOut
	ServiceAccount []string `parquet:"service_account"` // oTExtraAttr9 by default
	MemberOf       []string `parquet:"member_of"`       // oTMemberOf (DNs or REST pseudo-DNs)
	// Extra holds the attributes the tree's mapping names beyond the fixed ones
	// (logical name -> raw values), e.g. territory, region, business unit.
	Extra map[string][]string `parquet:"extra"`
}

// Group is one group entry as read.
type Group struct {
	Tree        string              `parquet:"tree"`
	Partition   string              `parquet:"partition"`
	DN          string              `parquet:"dn"`
	SourceID    string              `parquet:"source_id"`
	ObjectGUID  string              `parquet:"object_guid"`
	Name        string              `parquet:"name"` // cn (REST name)
	DisplayName []string            `parquet:"display_name"`
	Description []string            `parquet:"description"`
	ModifiedAt  *time.Time          `parquet:"modified_at"`
	CreatedAt   *time.Time          `parquet:"created_at"`
	MemberCount int64               `parquet:"member_count"` // direct oTMember values as read
	Extra       map[string][]string `parquet:"extra"`
}

// Membership is one direct membership: group -> member, as stored in oTMember.
type Membership struct {
	Tree            string `parquet:"tree,dict"`
	Partition       string `parquet:"partition,dict"` // the group's partition
	GroupDN         string `parquet:"group_dn,dict"`
	GroupSourceID   string `parquet:"group_source_id,dict"`
	MemberDN        string `parquet:"member_dn"`             // as read (REST: pseudo-DN or "")
	MemberSourceID  string `parquet:"member_source_id"`      // resolved entryUUID/uuid; "" when the member points nowhere
	MemberKind      string `parquet:"member_kind,dict"`      // user | group
	MemberPartition string `parquet:"member_partition,dict"` // differs from Partition for cross-partition members
}

// Reject is a malformed entry or value that was not published as a row.
type Reject struct {
	Tree      string `parquet:"tree"`
	Partition string `parquet:"partition"`
	DN        string `parquet:"dn"`
	SourceID  string `parquet:"source_id"`
	Kind      string `parquet:"kind"`   // account | group | membership
	Code      string `parquet:"code"`   // bad_utf8 | missing_attribute | bad_dn | dangling_member | duplicate_dn | bad_email | control_characters | ...
	Reason    string `parquet:"reason"` // plain-language explanation
	Detail    string `parquet:"detail"` // offending value (truncated), attribute name, ...
}

// ---------------------------------------------------------------- transform

// AccountNormalized is one account after normalization (still one row per
// source account).
type AccountNormalized struct {
	AccountKey     string            `parquet:"account_key"` // "<tree>/<source_id>", unique across the run
	Tree           string            `parquet:"tree"`
	Partition      string            `parquet:"partition"`
	DN             string            `parquet:"dn"`
	SourceID       string            `parquet:"source_id"`
	Login          string            `parquet:"login"`
	LoginQualified string            `parquet:"login_qualified"` // login@partition, case-folded
	Emails         []string          `parquet:"emails"`          // every mail value, case-folded, domain aliases applied, sorted, unique
	PrimaryEmail   string            `parquet:"primary_email"`   // first canonical mail value, "" when none
	EmployeeID     string            `parquet:"employee_id"`     // trimmed
	EmployeeIDKey  string            `parquet:"employee_id_key"` // "<scheme>:<id>" (scheme per tree), "" when none
	GivenName      string            `parquet:"given_name"`
	Surname        string            `parquet:"surname"`
	DisplayName    string            `parquet:"display_name"`
	Title          string            `parquet:"title"`
	Department     string            `parquet:"department"`
	Company        string            `parquet:"company"`
	Country        string            `parquet:"country"`
	ManagerDN      string            `parquet:"manager_dn"`
	Status         string            `parquet:"status"` // enabled | disabled | locked
	IsService      bool              `parquet:"is_service"`
	ServiceReason  string            `parquet:"service_reason"`
	Region         string            `parquet:"region"`
	BusinessUnit   string            `parquet:"business_unit"`
	Territory      string            `parquet:"territory"`
	Role           string            `parquet:"role"`
	Attributes     map[string]string `parquet:"attributes"` // other derived attributes by name
	Groups         []string          `parquet:"groups"`     // effective group keys, sorted
	ModifiedAt     *time.Time        `parquet:"modified_at"`
}

// EffectiveMembership is one (account, group) pair after nested groups are
// expanded, with the path that granted it.
type EffectiveMembership struct {
	AccountKey string   `parquet:"account_key"`
	Tree       string   `parquet:"tree,dict"`
	GroupKey   string   `parquet:"group_key,dict"` // "<tree>/<group source_id>"
	GroupDN    string   `parquet:"group_dn,dict"`
	GroupName  string   `parquet:"group_name,dict"`
	Direct     bool     `parquet:"direct"`
	Depth      int32    `parquet:"depth"`     // 0 = direct member
	Path       []string `parquet:"path,dict"` // group names from the direct group up to GroupName, capped at transform.MaxPathNames
}

// Person is one resolved human (or service identity) across trees.
type Person struct {
	PersonID     string            `parquet:"person_id"` // stable across runs
	PrimaryEmail string            `parquet:"primary_email"`
	Emails       []string          `parquet:"emails"`
	EmployeeID   string            `parquet:"employee_id"`
	GivenName    string            `parquet:"given_name"`
	Surname      string            `parquet:"surname"`
	DisplayName  string            `parquet:"display_name"`
	Title        string            `parquet:"title"`
	Department   string            `parquet:"department"`
	Company      string            `parquet:"company"`
	Country      string            `parquet:"country"`
	Status       string            `parquet:"status"` // enabled | disabled | locked
	IsService    bool              `parquet:"is_service"`
	Region       string            `parquet:"region"`
	BusinessUnit string            `parquet:"business_unit"`
	Territory    string            `parquet:"territory"`
	Role         string            `parquet:"role"`
	Attributes   map[string]string `parquet:"attributes"`
	PrimaryTree  string            `parquet:"primary_tree"`
	Trees        []string          `parquet:"trees"`
	AccountKeys  []string          `parquet:"account_keys"`
	Groups       []string          `parquet:"groups,dict"`    // effective group names, qualified "<tree>:<name>", sorted
	SourceOf     map[string]string `parquet:"source_of,dict"` // attribute -> account_key that supplied it
	ModifiedAt   *time.Time        `parquet:"modified_at"`
}

// PersonLink says which person an account joined, by which rule and key.
type PersonLink struct {
	AccountKey string `parquet:"account_key"`
	Tree       string `parquet:"tree"`
	DN         string `parquet:"dn"`
	PersonID   string `parquet:"person_id"`
	Rule       string `parquet:"rule"` // match key name (employee_id, email, ...), "singleton", "carried", "override:force-link", "override:force-split"
	Key        string `parquet:"key"`  // the key value that matched
	Detail     string `parquet:"detail"`
}

// MatchReview is a candidate merge that was NOT made and needs a human.
type MatchReview struct {
	ReviewID    string   `parquet:"review_id"`
	AccountKeys []string `parquet:"account_keys"`
	PersonIDs   []string `parquet:"person_ids"`
	Reason      string   `parquet:"reason"`   // conflicting_keys | weak_match_only | ...
	Evidence    string   `parquet:"evidence"` // plain-language / JSON evidence
}

// ---------------------------------------------------------------- pull (load)

// HighspotUser is one user as read back from Highspot.
type HighspotUser struct {
	HighspotID  string    `parquet:"highspot_id"`
	Email       string    `parquet:"email"` // case-folded
	Name        string    `parquet:"name"`
	Surname     string    `parquet:"surname"`
	DisplayName string    `parquet:"display_name"`
	Suspended   bool      `parquet:"suspended"`
	Verified    bool      `parquet:"verified"`
	GroupIDs    []string  `parquet:"group_ids"`
	GroupNames  []string  `parquet:"group_names"`
	PulledAt    time.Time `parquet:"pulled_at"`
}

// HighspotGroup is one group as read back from Highspot.
type HighspotGroup struct {
	HighspotID  string    `parquet:"highspot_id"`
	Name        string    `parquet:"name"`
	Description string    `parquet:"description"`
	MemberCount int64     `parquet:"member_count"`
	Managed     bool      `parquet:"managed"` // declared managed by the policy config
	PulledAt    time.Time `parquet:"pulled_at"`
}

// Drift is one difference between Highspot and the directory found by pull.
type Drift struct {
	Kind       string `parquet:"kind"` // unknown_user | suspension_mismatch | manual_membership | missing_membership
	Email      string `parquet:"email"`
	HighspotID string `parquet:"highspot_id"`
	PersonID   string `parquet:"person_id"`
	Group      string `parquet:"group"`
	Detail     string `parquet:"detail"`
}

// ---------------------------------------------------------------- plan

// DesiredUser is the state the policy wants for one in-scope person.
type DesiredUser struct {
	PersonID    string            `parquet:"person_id"`
	Email       string            `parquet:"email"`
	Name        string            `parquet:"name"`
	Surname     string            `parquet:"surname"`
	DisplayName string            `parquet:"display_name"`
	Suspended   bool              `parquet:"suspended"`
	Groups      []string          `parquet:"groups"`      // Highspot group names, sorted
	GroupRules  map[string]string `parquet:"group_rules"` // group -> rule that granted it
	Onboarding  []string          `parquet:"onboarding"`  // onboarding groups/spots granted on join or move
	Role        string            `parquet:"role"`
	Region      string            `parquet:"region"`
	Tree        string            `parquet:"tree"`
	ScopeRule   string            `parquet:"scope_rule"`
	Protected   bool              `parquet:"protected"`
}

// Change ops, in apply order (phase 1 groups and users, 2 memberships, 3
// suspensions).
const (
	// OpCreateGroup creates a managed group Highspot lacks (only with
	// highspot.create_missing_groups).
	OpCreateGroup    = "create_group"
	OpCreateUser     = "create_user"
	OpUpdateUser     = "update_user"
	OpReactivateUser = "reactivate_user"
	OpAddMember      = "add_member"
	OpRemoveMember   = "remove_member"
	OpSuspendUser    = "suspend_user"
)

// Change is one planned operation against Highspot.
type Change struct {
	ChangeID   string `parquet:"change_id"` // deterministic: sha256 of (op, email, group, after) truncated
	Seq        int64  `parquet:"seq"`       // apply order within the plan
	Phase      int32  `parquet:"phase"`     // 1 users, 2 memberships, 3 suspensions
	Op         string `parquet:"op"`
	PersonID   string `parquet:"person_id"`
	Email      string `parquet:"email"`
	Tree       string `parquet:"tree"`
	HighspotID string `parquet:"highspot_id"` // known target id ("" for creates)
	Group      string `parquet:"group"`       // Highspot group name for membership ops
	GroupID    string `parquet:"group_id"`    // Highspot group id when known
	Before     string `parquet:"before"`      // JSON of the relevant fields before
	After      string `parquet:"after"`       // JSON of the relevant fields after
	Rule       string `parquet:"rule"`
	Reason     string `parquet:"reason"` // plain language
}

// ---------------------------------------------------------------- apply

// Load result statuses.
const (
	StatusApplied = "applied"
	StatusFailed  = "failed"  // permanent failure (validation, 4xx)
	StatusSkipped = "skipped" // nothing to do (already in the desired state)
)

// LoadResult is one ledger entry written by apply as it goes.
type LoadResult struct {
	ChangeID   string    `parquet:"change_id"`
	Op         string    `parquet:"op"`
	Email      string    `parquet:"email"`
	Group      string    `parquet:"group"`
	Status     string    `parquet:"status"`
	Attempts   int32     `parquet:"attempts"`
	HTTPStatus int32     `parquet:"http_status"`
	HighspotID string    `parquet:"highspot_id"`
	Error      string    `parquet:"error"`
	At         time.Time `parquet:"at"`
}

// ---------------------------------------------------------------- operate

// Access review grants: why a Highspot user holds a group.
const (
	GrantPolicy = "policy" // the policy grants it (AccessReview.Rule names the rule)
	GrantDrift  = "drift"  // a managed group the policy does not grant this user
	GrantManual = "manual" // a group this tool does not manage (given by hand in Highspot)
	GrantNone   = ""       // the row of a user who holds no group
)

// AccessReview is one row of the access review: one group a Highspot user
// holds (or one row with an empty Group for a user who holds none), who the
// user is in the directory, why the user holds the group and when this tool
// last changed the user.
type AccessReview struct {
	Email           string     `parquet:"email"` // case-folded
	HighspotID      string     `parquet:"highspot_id"`
	HighspotStatus  string     `parquet:"highspot_status"` // active | suspended
	PersonID        string     `parquet:"person_id"`       // "" when no directory person has this email
	DisplayName     string     `parquet:"display_name"`
	Trees           []string   `parquet:"trees"`
	Accounts        []string   `parquet:"accounts"`         // account keys (<tree>:<source id>)
	DirectoryStatus string     `parquet:"directory_status"` // enabled | disabled | locked | not in the directory
	Group           string     `parquet:"group"`
	Managed         bool       `parquet:"managed"` // the policy manages the group
	Grant           string     `parquet:"grant"`   // policy | drift | manual | "" (no group)
	Rule            string     `parquet:"rule"`    // the policy rule for grant=policy
	Reason          string     `parquet:"reason"`  // plain language, for every row
	LastChangedAt   *time.Time `parquet:"last_changed_at"`
	LastChange      string     `parquet:"last_change"` // "<op> [group]" of that ledger row
	LastChangeRunID string     `parquet:"last_change_run_id"`
}

// IdentityHistory is one SCD type-2 row: a person's attribute set and access,
// valid from one run's date until the next change (ValidTo nil = current).
type IdentityHistory struct {
	PersonID   string            `parquet:"person_id"`
	Email      string            `parquet:"email"`
	Status     string            `parquet:"status,dict"`
	Attributes map[string]string `parquet:"attributes,dict"`
	Groups     []string          `parquet:"groups,dict"`
	Hash       string            `parquet:"hash"`
	ValidFrom  time.Time         `parquet:"valid_from"`
	ValidTo    *time.Time        `parquet:"valid_to"`
	// OpenedRunID is the run that opened this version. (A column named
	// run_id would collide with the run_id= Hive partition.)
	OpenedRunID string `parquet:"opened_run_id,dict"`
}
