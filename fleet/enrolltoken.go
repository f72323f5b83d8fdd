package fleet

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Enrollment tokens are minted here, once, for both ways of minting them:
// the gateway's API and the provider's kubernetes backend. A token is
// "wbt_<id>_<secret>": the id finds the record, which keeps only the
// secret's sha256.

// EnrollmentTokenPrefix starts every enrollment token.
const EnrollmentTokenPrefix = "wbt_"

// DefaultEnrollmentTokenTTL is a token's validity when none is asked for.
const DefaultEnrollmentTokenTTL = 24 * time.Hour

// MaxUnusedTokens bounds the enrollment tokens a device may hold that are
// valid and were never used: a device needs one, and each one left is a
// way to enroll under its name until it expires. The provider mints one
// only when a device needs it and deletes the earlier ones; a script that
// mints in a loop is told to delete them (DELETE /v1/devices/NAME/tokens).
const MaxUnusedTokens = 8

// ErrTooManyTokens: the device holds MaxUnusedTokens valid tokens that were
// never used.
var ErrTooManyTokens = errors.New("too many unused enrollment tokens")

// NewEnrollmentToken makes a token for device, valid for ttl (0: the
// default) from now: the secret to hand over once, and the record to store.
func NewEnrollmentToken(device string, ttl time.Duration) (secret string, rec EnrollmentToken) {
	if ttl <= 0 {
		ttl = DefaultEnrollmentTokenTTL
	}
	var idb [8]byte
	var sec [24]byte
	rand.Read(idb[:])
	rand.Read(sec[:])
	id := hex.EncodeToString(idb[:])
	s := base64.RawURLEncoding.EncodeToString(sec[:])
	now := time.Now().UTC()
	return EnrollmentTokenPrefix + id + "_" + s, EnrollmentToken{ID: id, Device: device, Hash: SecretHash(s),
		ExpiresAt: now.Add(ttl), CreatedAt: now}
}

// MintEnrollmentToken stores a new token for device (which the caller has
// found registered): the device's expired tokens that were never used are
// deleted first (expired: how many), and a device that still holds
// MaxUnusedTokens valid unused ones is refused with ErrTooManyTokens.
func MintEnrollmentToken(ctx context.Context, tokens Collection[EnrollmentToken], device string, ttl time.Duration) (secret string, rec EnrollmentToken, expired int, err error) {
	toks, err := DeviceTokens(ctx, tokens, device)
	if err != nil {
		return "", rec, 0, fmt.Errorf("tokens of device %s: %w", device, err)
	}
	now := time.Now()
	live := 0
	for _, t := range toks {
		switch {
		case !t.UsedAt.IsZero():
		case !now.Before(t.ExpiresAt):
			// The audit entry in ctx is the new token's, not these.
			if err := tokens.Delete(WithoutAudit(ctx), t.ID); err != nil && !errors.Is(err, ErrNotFound) {
				return "", rec, expired, fmt.Errorf("expired token %s of device %s: %w", t.ID, device, err)
			}
			expired++
		default:
			live++
		}
	}
	if live >= MaxUnusedTokens {
		return "", rec, expired, fmt.Errorf("%w: device %s holds %d valid enrollment tokens never used (at most %d): delete them (DELETE /v1/devices/%s/tokens) "+
			"or let the device enroll with one", ErrTooManyTokens, device, live, MaxUnusedTokens, device)
	}
	secret, rec = NewEnrollmentToken(device, ttl)
	if err := tokens.Create(ctx, rec.ID, rec); err != nil {
		return "", EnrollmentToken{}, expired, err
	}
	return secret, rec, expired, nil
}
