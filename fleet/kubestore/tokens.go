package kubestore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
)

// NewEnrollmentToken mints a one-time enrollment token for device, valid
// for ttl (default 24h), in the format a gateway checks
// ("wbt_<id>_<secret>", as gateway.CreateToken makes them): the secret to
// hand to the device, and the record to store (Tokens().Create(ctx,
// rec.ID, rec)), which keeps only the secret's sha256. Clients of the
// Kubernetes mode (the provider's backend, tests) mint tokens with it.
func NewEnrollmentToken(device string, ttl time.Duration) (string, fleet.EnrollmentToken) {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	var idb [8]byte
	var secret [24]byte
	rand.Read(idb[:])
	rand.Read(secret[:])
	id := hex.EncodeToString(idb[:])
	sec := base64.RawURLEncoding.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(sec))
	now := time.Now().UTC()
	return "wbt_" + id + "_" + sec, fleet.EnrollmentToken{ID: id, Device: device, Hash: hex.EncodeToString(sum[:]),
		ExpiresAt: now.Add(ttl).Truncate(time.Second), CreatedAt: now}
}
