package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// Named API tokens (/v1/api-tokens): minted, listed, changed, rotated and
// revoked by admins; the store keeps their hashes (fleet.APIToken). The
// gateway's own admin and reader tokens (its data directory's files) are
// not among them, and their names are taken.

func (s *Server) apiTokens() (fleet.Collection[fleet.APIToken], error) {
	ts, ok := s.store.(fleet.APITokenStore)
	if !ok {
		return nil, &httpError{status: http.StatusMethodNotAllowed,
			msg: "Kubernetes mode: the gateway's API only reads; who may change the fleet is Kubernetes RBAC's (docs/kubernetes.md)"}
	}
	return ts.APITokens(), nil
}

func (s *Server) builtinToken(name string) bool {
	return slices.ContainsFunc(s.tokens, func(t hashedToken) bool { return t.name == name })
}

func (s *Server) createAPIToken(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	c, err := s.apiTokens()
	if err != nil {
		return err
	}
	var req apiv1.APITokenRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := errors.Join(validName("name", req.Name), roleValid(req.Role), ttlValid("ttl_seconds", req.TTLSeconds, apiv1.MaxAPITokenTTLSeconds),
		textValid("description", req.Description)); err != nil {
		return err
	}
	if s.builtinToken(req.Name) {
		return &httpError{status: http.StatusConflict, code: apiv1.CodeConflict,
			msg: fmt.Sprintf("API token %s: the name of one of the gateway's own tokens (its data directory's %s.token)", req.Name, req.Name)}
	}
	ctx := s.audit(r, who, "create", "role "+req.Role, fleet.KindAPIToken, req.Name)
	secret, t, err := fleet.MintAPIToken(ctx, c, req.Name, req.Role, req.Description, time.Duration(req.TTLSeconds)*time.Second)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/api-tokens/"+t.Name)
	return writeJSON(w, http.StatusCreated, apiv1.APITokenSecret{Token: secret, APIToken: apiv1.APITokenView(t)})
}

func (s *Server) listAPITokens(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	c, err := s.apiTokens()
	if err != nil {
		return err
	}
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	toks, more, err := fleet.Page(r.Context(), c, func(t *fleet.APIToken) string { return t.Name },
		fleet.Query[fleet.APIToken]{After: after, Limit: limit})
	if err != nil {
		return err
	}
	out := make([]apiv1.APIToken, len(toks))
	for i, t := range toks {
		out[i] = apiv1.APITokenView(t)
	}
	next := ""
	if more && len(toks) > 0 {
		next = continueToken(toks[len(toks)-1].Name)
	}
	return writeJSON(w, http.StatusOK, apiv1.APITokenList{APITokens: out, Continue: next})
}

func (s *Server) getAPIToken(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	c, err := s.apiTokens()
	if err != nil {
		return err
	}
	t, err := c.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	v := apiv1.APITokenView(t)
	w.Header().Set("ETag", etagOf(v))
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) updateAPIToken(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	c, err := s.apiTokens()
	if err != nil {
		return err
	}
	var u apiv1.APITokenUpdate
	if err := readJSON(r, &u); err != nil {
		return err
	}
	var errs []error
	if u.Role != nil {
		errs = append(errs, roleValid(*u.Role))
	}
	if u.Description != nil {
		errs = append(errs, textValid("description", *u.Description))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	name := r.PathValue("name")
	// The audit entry names what changed (none when nothing did).
	t, err := c.Update(s.audit(r, who, "update", "", fleet.KindAPIToken, name), name, func(t *fleet.APIToken) error {
		if u.Role != nil {
			t.Role = *u.Role
		}
		if u.Description != nil {
			t.Description = *u.Description
		}
		return nil
	})
	if err != nil {
		return err
	}
	v := apiv1.APITokenView(t)
	w.Header().Set("ETag", etagOf(v))
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) rotateAPIToken(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	c, err := s.apiTokens()
	if err != nil {
		return err
	}
	var req apiv1.APITokenRotation
	if r.ContentLength != 0 {
		if err := readJSON(r, &req); err != nil {
			return err
		}
	}
	if err := errors.Join(ttlValid("grace_seconds", req.GraceSeconds, apiv1.MaxAPITokenGraceSeconds),
		ttlValid("ttl_seconds", req.TTLSeconds, apiv1.MaxAPITokenTTLSeconds)); err != nil {
		return err
	}
	name := r.PathValue("name")
	ctx := s.audit(r, who, "rotate", fmt.Sprintf("old secret accepted for %d s", req.GraceSeconds), fleet.KindAPIToken, name)
	secret, t, err := fleet.RotateAPIToken(ctx, c, name, time.Duration(req.GraceSeconds)*time.Second, time.Duration(req.TTLSeconds)*time.Second)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.APITokenSecret{Token: secret, APIToken: apiv1.APITokenView(t)})
}

func (s *Server) deleteAPIToken(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	c, err := s.apiTokens()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := c.Delete(s.audit(r, who, "delete", "", fleet.KindAPIToken, name), name); err != nil {
		return err
	}
	s.idempotency.forget("/v1/api-tokens/" + name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func roleValid(role string) error {
	if !slices.Contains(fleet.Roles, role) {
		return badRequest("role %q: want one of %v", role, fleet.Roles)
	}
	return nil
}

func ttlValid(field string, seconds, max int) error {
	if seconds < 0 || seconds > max {
		return badRequest("%s: %d: want 0 to %d", field, seconds, max)
	}
	return nil
}

func textValid(field, s string) error {
	if len(s) > 256 {
		return badRequest("%s: %d bytes, at most 256", field, len(s))
	}
	return nil
}
