package fleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Roles of a management API token, from the least to the most allowed.
const (
	// RoleReader reads everything but the audit log and the API tokens.
	RoleReader = "reader"
	// RoleOperator also changes the fleet: devices, enrollment tokens,
	// certificates, modules, applications and their rollouts.
	RoleOperator = "operator"
	// RoleAdmin also registers gateways, manages API tokens and reads the
	// audit log.
	RoleAdmin = "admin"
)

// Roles lists the roles, least allowed first.
var Roles = []string{RoleReader, RoleOperator, RoleAdmin}

// RoleAllows reports whether a token of role may do what needs role need.
func RoleAllows(role, need string) bool { return roleRank(role) >= roleRank(need) }

func roleRank(role string) int {
	for i, r := range Roles {
		if r == role {
			return i
		}
	}
	return -1
}

// APIToken is a named management API token (the embedded store's; the
// gateway's admin and reader tokens come from its data directory). Only the
// sha256 of its secret is kept: the secret is 32 random bytes, so a fast
// hash is as good as a slow one, and checking a request costs one hash.
type APIToken struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	Description string `json:"description,omitempty"`
	Hash        string `json:"hash"` // hex sha256 of the secret
	// PreviousHash is the secret's before the last rotation, still accepted
	// until PreviousUntil (the rotation's grace period).
	PreviousHash  string    `json:"previous_hash,omitempty"`
	PreviousUntil time.Time `json:"previous_until,omitzero"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"` // zero: never
	CreatedAt     time.Time `json:"created_at"`
	RotatedAt     time.Time `json:"rotated_at,omitzero"`
}

// APITokenPrefix starts every named token: "wba_<name>.<secret>" (the name
// finds the record; the secret is hex, so the last '.' ends the name).
const APITokenPrefix = "wba_"

// ErrTokenRefused is why a named token is not accepted (unknown, wrong
// secret, expired); callers say no more than that to the client.
var ErrTokenRefused = errors.New("API token refused")

// NewAPITokenSecret returns a new secret for the token name and the hash to
// store.
func NewAPITokenSecret(name string) (secret, hash string) {
	var raw [32]byte
	rand.Read(raw[:])
	s := hex.EncodeToString(raw[:])
	return APITokenPrefix + name + "." + s, SecretHash(s)
}

// APITokenName returns the name a named token's secret carries, "" when
// secret is not one.
func APITokenName(secret string) string {
	rest, ok := strings.CutPrefix(secret, APITokenPrefix)
	i := strings.LastIndexByte(rest, '.')
	if !ok || i <= 0 {
		return ""
	}
	return rest[:i]
}

// Accepts reports whether secret is t's at now: its current secret, or the
// one before a rotation during the grace period, and t not expired.
func (t *APIToken) Accepts(secret string, now time.Time) bool {
	rest, ok := strings.CutPrefix(secret, APITokenPrefix+t.Name+".")
	if !ok || !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return false
	}
	h := SecretHash(rest)
	cur := subtle.ConstantTimeCompare([]byte(h), []byte(t.Hash)) == 1
	prev := t.PreviousHash != "" && now.Before(t.PreviousUntil) &&
		subtle.ConstantTimeCompare([]byte(h), []byte(t.PreviousHash)) == 1
	return cur || prev
}

// SecretHash is the hex sha256 a token record keeps of its secret.
func SecretHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// An APITokenStore keeps named API tokens (the embedded store; in
// Kubernetes mode the gateway's API only reads, and who may change the
// fleet is Kubernetes RBAC's business).
type APITokenStore interface {
	APITokens() Collection[APIToken]
}

// MintAPIToken stores a new token; the secret is returned once. ttl 0 means
// no expiry.
func MintAPIToken(ctx context.Context, c Collection[APIToken], name, role, description string, ttl time.Duration) (string, APIToken, error) {
	secret, hash := NewAPITokenSecret(name)
	now := time.Now().UTC().Truncate(time.Second)
	t := APIToken{Name: name, Role: role, Description: description, Hash: hash, CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	if err := c.Create(ctx, name, t); err != nil {
		return "", APIToken{}, fmt.Errorf("API token %s: %w", name, err)
	}
	return secret, t, nil
}

// RotateAPIToken gives token name a new secret, returned once. The old one
// is still accepted for grace (0: refused at once); ttl > 0 sets a new
// expiry from now, 0 keeps the token's.
func RotateAPIToken(ctx context.Context, c Collection[APIToken], name string, grace, ttl time.Duration) (string, APIToken, error) {
	secret, hash := NewAPITokenSecret(name)
	now := time.Now().UTC().Truncate(time.Second)
	t, err := c.Update(ctx, name, func(t *APIToken) error {
		t.PreviousHash, t.PreviousUntil = "", time.Time{}
		if grace > 0 {
			t.PreviousHash, t.PreviousUntil = t.Hash, now.Add(grace)
		}
		t.Hash, t.RotatedAt = hash, now
		if ttl > 0 {
			t.ExpiresAt = now.Add(ttl)
		}
		return nil
	})
	if err != nil {
		return "", APIToken{}, fmt.Errorf("API token %s: %w", name, err)
	}
	return secret, t, nil
}
