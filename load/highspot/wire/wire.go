// Package wire owns the JSON shapes exchanged with Highspot: the REST v1.0
// envelopes, users and groups, and the SCIM 2.0 (RFC 7643/7644) resources,
// list responses, PATCH and Bulk messages. Decoding is lenient: unknown
// fields are ignored and every field beyond the evidenced ones is optional.
package wire

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Collection is the REST list envelope {"counts_total": N, "collection": [...]}.
type Collection[T any] struct {
	CountsTotal int `json:"counts_total"`
	Collection  []T `json:"collection"`
}

// User is a REST user. Verified is a PROPOSED extension (absent from real
// responses, so a pointer).
type User struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Surname     string   `json:"surname"`
	DisplayName string   `json:"display_name"`
	Email       string   `json:"email"`
	Groups      []string `json:"groups"`
	Suspended   bool     `json:"suspended"`
	Verified    *bool    `json:"verified,omitempty"`
}

// Group is a REST group; Highspot's shape is not public, so the name may come
// as "name" or "title".
type Group struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
	MemberCount int64  `json:"member_count"`
}

// DisplayName is the group's name, whichever key carried it.
func (g Group) DisplayName() string {
	if g.Name != "" {
		return g.Name
	}
	return g.Title
}

// UpsertEntry is one element of the POST /users array.
type UpsertEntry struct {
	Email      string         `json:"email"`
	Properties map[string]any `json:"properties,omitempty"`
}

// UpsertResult is one element of the POST /users response collection.
type UpsertResult struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Created bool   `json:"created"`
}

// OK reports whether the entry was accepted.
func (r UpsertResult) OK() bool {
	switch strings.ToLower(r.Status) {
	case "error", "failed", "failure", "invalid":
		return false
	}
	return true
}

// MemberResult is one element of a membership write's response collection.
type MemberResult struct {
	Email   string `json:"email"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// IDResponse is {"id": "..."} (creates, and 202 async request ids).
type IDResponse struct {
	ID string `json:"id"`
}

// AsyncRequest is GET /requests/{id}.
type AsyncRequest struct {
	ID     string `json:"id"`
	Status string `json:"status"` // pending | complete | failed
}

// Token is the OAuth2 token response.
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// SCIM schema URNs.
const (
	SchemaUser      = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup     = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaList      = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaPatch     = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaBulkReq   = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	SchemaBulkResp  = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	SchemaError     = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaSPConfig  = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	SchemaEnterpris = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	ContentTypeSCIM = "application/scim+json"
)

// SCIMName is the SCIM complex name attribute.
type SCIMName struct {
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
	Formatted  string `json:"formatted,omitempty"`
}

// SCIMMulti is a multi-valued attribute element (emails, groups, members).
type SCIMMulti struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
	Ref     string `json:"$ref,omitempty"`
}

// SCIMMeta is the resource meta attribute.
type SCIMMeta struct {
	ResourceType string `json:"resourceType,omitempty"`
	Created      string `json:"created,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
	Location     string `json:"location,omitempty"`
	Version      string `json:"version,omitempty"`
}

// SCIMUser is a SCIM core User.
type SCIMUser struct {
	Schemas     []string    `json:"schemas"`
	ID          string      `json:"id,omitempty"`
	ExternalID  string      `json:"externalId,omitempty"`
	UserName    string      `json:"userName"`
	Name        *SCIMName   `json:"name,omitempty"`
	DisplayName string      `json:"displayName,omitempty"`
	Emails      []SCIMMulti `json:"emails,omitempty"`
	Active      *bool       `json:"active,omitempty"`
	Groups      []SCIMMulti `json:"groups,omitempty"`
	Meta        *SCIMMeta   `json:"meta,omitempty"`
}

// SCIMGroup is a SCIM core Group.
type SCIMGroup struct {
	Schemas     []string    `json:"schemas"`
	ID          string      `json:"id,omitempty"`
	DisplayName string      `json:"displayName"`
	Members     []SCIMMulti `json:"members,omitempty"`
	Meta        *SCIMMeta   `json:"meta,omitempty"`
}

// SCIMList is a SCIM ListResponse.
type SCIMList[T any] struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []T      `json:"Resources"`
}

// SCIMPatchOp is a PATCH request body.
type SCIMPatchOp struct {
	Schemas    []string        `json:"schemas"`
	Operations []SCIMOperation `json:"Operations"`
}

// SCIMOperation is one PATCH operation.
type SCIMOperation struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

// SCIMSupported is {"supported": bool} in the ServiceProviderConfig.
type SCIMSupported struct {
	Supported bool `json:"supported"`
}

// SCIMServiceProviderConfig is GET /ServiceProviderConfig (the parts used).
type SCIMServiceProviderConfig struct {
	Schemas []string      `json:"schemas"`
	Patch   SCIMSupported `json:"patch"`
	Bulk    struct {
		Supported      bool `json:"supported"`
		MaxOperations  int  `json:"maxOperations"`
		MaxPayloadSize int  `json:"maxPayloadSize"`
	} `json:"bulk"`
	Filter struct {
		Supported  bool `json:"supported"`
		MaxResults int  `json:"maxResults"`
	} `json:"filter"`
	ChangePassword SCIMSupported `json:"changePassword"`
	Sort           SCIMSupported `json:"sort"`
	ETag           SCIMSupported `json:"etag"`
}

// SCIMBulkRequest is POST /Bulk.
type SCIMBulkRequest struct {
	Schemas      []string            `json:"schemas"`
	FailOnErrors int                 `json:"failOnErrors,omitempty"`
	Operations   []SCIMBulkOperation `json:"Operations"`
}

// SCIMBulkOperation is one Bulk operation (request or response).
type SCIMBulkOperation struct {
	Method   string          `json:"method"`
	BulkID   string          `json:"bulkId,omitempty"`
	Version  string          `json:"version,omitempty"`
	Path     string          `json:"path,omitempty"`
	Data     any             `json:"data,omitempty"`
	Location string          `json:"location,omitempty"`
	Response json.RawMessage `json:"response,omitempty"`
	Status   FlexStatus      `json:"status,omitempty"`
}

// SCIMBulkResponse is the Bulk response.
type SCIMBulkResponse struct {
	Schemas    []string            `json:"schemas"`
	Operations []SCIMBulkOperation `json:"Operations"`
}

// SCIMError is a SCIM error body.
type SCIMError struct {
	Schemas  []string   `json:"schemas"`
	Status   FlexStatus `json:"status"`
	ScimType string     `json:"scimType,omitempty"`
	Detail   string     `json:"detail,omitempty"`
}

// FlexStatus decodes an HTTP status sent as a JSON string ("201", as RFC 7644
// shows) or a number; it encodes as a string.
type FlexStatus int

// UnmarshalJSON accepts "201", 201 or {"code": "201"} (RFC 7644 draft form).
func (s *FlexStatus) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case float64:
		*s = FlexStatus(x)
	case string:
		n, _ := strconv.Atoi(strings.TrimSpace(x))
		*s = FlexStatus(n)
	case map[string]any:
		if c, ok := x["code"]; ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.Trim(string(mustJSON(c)), `"`)))
			*s = FlexStatus(n)
		}
	}
	return nil
}

// MarshalJSON writes the status as a string, as RFC 7644 does.
func (s FlexStatus) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.Itoa(int(s)) + `"`), nil
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
