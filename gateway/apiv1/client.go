package apiv1

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/tracing"
)

// Error is a non-2xx answer of the API.
type Error struct {
	Status  int
	Code    string // ErrorResponse.Code
	Message string
	Board   string // module checks: the board that cannot run the module
}

func (e *Error) Error() string {
	if e.Board != "" {
		return fmt.Sprintf("gateway API: %d: board %s: %s", e.Status, e.Board, e.Message)
	}
	return fmt.Sprintf("gateway API: %d: %s", e.Status, e.Message)
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// Client calls the management API.
type Client struct {
	base   *url.URL
	token  string
	http   *http.Client
	writes atomic.Uint64
}

// NewClient makes a client for the API at base (https://host:port), with a
// bearer token, trusting roots (nil: the system roots).
func NewClient(base *url.URL, token string, roots *x509.CertPool) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	// The gateway speaks HTTP/2: every request shares one connection. Over
	// HTTP/1.1 (a proxy in between), keep as many idle connections as
	// Terraform runs requests at once (-parallelism, 10 by default), not
	// http.DefaultTransport's 2, so that no request pays a new TLS handshake.
	tr.MaxIdleConnsPerHost = 16
	return &Client{base: base, token: token, http: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// Writes counts the requests other than GET this client has made, each twice:
// once when it starts and once when it has ended (answered or failed). A
// reader that sees the same count before and after reading knows that no
// write of this client overlapped the read, so a copy of what it read is as
// fresh as this client's own changes (the provider's device snapshot).
func (c *Client) Writes() uint64 { return c.writes.Load() }

// do sends one request and decodes its answer. A 429 (the gateway at its
// limit of requests in flight) is retried after its Retry-After, for as
// long as ctx allows: a busy gateway slows a client down, it does not fail it.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	return c.doKeyed(ctx, method, path, query, in, out, "")
}

// mint POSTs a request that mints a secret or a certificate with a new
// Idempotency-Key, and sends it once more with the same key if the
// connection fails before an answer: the gateway answers the retry with the
// first request's answer if that one was made, instead of minting twice.
func (c *Client) mint(ctx context.Context, path string, in, out any) error {
	var k [16]byte
	rand.Read(k[:])
	return c.doKeyed(ctx, http.MethodPost, path, nil, in, out, hex.EncodeToString(k[:]))
}

func (c *Client) doKeyed(ctx context.Context, method, path string, query url.Values, in, out any, key string) error {
	if method != http.MethodGet && method != http.MethodHead {
		c.writes.Add(1)
		defer c.writes.Add(1)
	}
	u := c.base.JoinPath(path)
	u.RawQuery = query.Encode()
	var payload []byte
	contentType := ""
	switch b := in.(type) {
	case nil:
	case []byte:
		payload, contentType = b, "application/wasm"
	default:
		js, err := json.Marshal(b)
		if err != nil {
			return err
		}
		payload, contentType = js, "application/json"
	}
	retried := false
	for {
		status, retry, raw, err := c.send(ctx, method, u.String(), contentType, key, payload)
		if err != nil && key != "" && !retried && ctx.Err() == nil {
			retried = true
			continue
		}
		if err != nil {
			return fmt.Errorf("gateway API %s %s: %w", method, path, err)
		}
		if status == http.StatusTooManyRequests {
			select {
			case <-time.After(retry):
				continue
			case <-ctx.Done():
			}
		}
		if status >= 300 {
			var e ErrorResponse
			if json.Unmarshal(raw, &e) != nil || e.Detail == "" {
				e.Detail = http.StatusText(status)
			}
			return &Error{Status: status, Code: e.Code, Message: e.Detail, Board: e.Board}
		}
		if out != nil && len(raw) > 0 {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("gateway API %s %s: decode answer: %w", method, path, err)
			}
		}
		return nil
	}
}

// send makes one request; for a 429, retry is its Retry-After (1 s if it
// has none that parses).
func (c *Client) send(ctx context.Context, method, u, contentType, key string, payload []byte) (status int, retry time.Duration, raw []byte, err error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	// The caller's span (a provider operation's) is the parent of the
	// gateway's server span: W3C traceparent, when ctx has one.
	tracing.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, 0, nil, err
	}
	retry = time.Second
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 && s <= 60 {
		retry = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retry, raw, nil
}

// CA returns the CA root certificate in PEM.
func (c *Client) CA(ctx context.Context) (string, error) {
	var out CAResponse
	err := c.do(ctx, http.MethodGet, "/v1/ca", nil, nil, &out)
	return out.RootPEM, err
}

func (c *Client) GetGateway(ctx context.Context, name string) (fleet.Gateway, error) {
	var out fleet.Gateway
	err := c.do(ctx, http.MethodGet, "/v1/gateways/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}

// listAll gets every page of a list: the server answers at most a page per
// request, with the next page's continue token.
func listAll[L any, T any](ctx context.Context, c *Client, path string, q url.Values, items func(*L) []T, next func(*L) string) ([]T, error) {
	if q == nil {
		q = url.Values{}
	}
	var all []T
	for {
		var page L
		if err := c.do(ctx, http.MethodGet, path, q, nil, &page); err != nil {
			return all, err
		}
		all = append(all, items(&page)...)
		cont := next(&page)
		if cont == "" {
			return all, nil
		}
		q.Set("continue", cont)
	}
}

func (c *Client) ListGateways(ctx context.Context) ([]fleet.Gateway, error) {
	return listAll(ctx, c, "/v1/gateways", nil, func(l *GatewayList) []fleet.Gateway { return l.Gateways },
		func(l *GatewayList) string { return l.Continue })
}

func (c *Client) PutGateway(ctx context.Context, name string, spec GatewaySpec) (fleet.Gateway, error) {
	var out fleet.Gateway
	err := c.do(ctx, http.MethodPut, "/v1/gateways/"+url.PathEscape(name), nil, spec, &out)
	return out, err
}

func (c *Client) DeleteGateway(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/gateways/"+url.PathEscape(name), nil, nil, nil)
}

func (c *Client) GetDevice(ctx context.Context, name string) (fleet.Device, error) {
	var out fleet.Device
	err := c.do(ctx, http.MethodGet, "/v1/devices/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}

// DeviceFilter narrows ListDevices; empty fields match everything.
type DeviceFilter struct {
	Board   string
	Phase   string
	Gateway string // the gateway the devices are assigned to
	Labels  map[string]string
}

func (f DeviceFilter) query() url.Values {
	q := url.Values{}
	if f.Board != "" {
		q.Set("board", f.Board)
	}
	if f.Phase != "" {
		q.Set("phase", f.Phase)
	}
	if f.Gateway != "" {
		q.Set("gateway", f.Gateway)
	}
	for k, v := range f.Labels {
		q.Add("label", k+"="+v)
	}
	return q
}

func (c *Client) ListDevices(ctx context.Context, f DeviceFilter) ([]fleet.Device, error) {
	return listAll(ctx, c, "/v1/devices", f.query(), func(l *DeviceList) []fleet.Device { return l.Devices },
		func(l *DeviceList) string { return l.Continue })
}

// ListDevicePages calls fn with each page of the devices f selects, in name
// order, the server's largest pages (1,000 devices), up to maxPages pages (0:
// all of them).
func (c *Client) ListDevicePages(ctx context.Context, f DeviceFilter, maxPages int, fn func([]fleet.Device)) error {
	q := f.query()
	for n := 0; maxPages <= 0 || n < maxPages; n++ {
		var page DeviceList
		if err := c.do(ctx, http.MethodGet, "/v1/devices", q, nil, &page); err != nil {
			return err
		}
		fn(page.Devices)
		if page.Continue == "" {
			break
		}
		q.Set("continue", page.Continue)
	}
	return nil
}

func (c *Client) PutDevice(ctx context.Context, name string, spec DeviceSpec) (fleet.Device, error) {
	var out fleet.Device
	err := c.do(ctx, http.MethodPut, "/v1/devices/"+url.PathEscape(name), nil, spec, &out)
	return out, err
}

func (c *Client) DeleteDevice(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/devices/"+url.PathEscape(name), nil, nil, nil)
}

func (c *Client) CreateToken(ctx context.Context, device string, ttl time.Duration) (TokenResponse, error) {
	var out TokenResponse
	err := c.mint(ctx, "/v1/devices/"+url.PathEscape(device)+"/tokens", TokenRequest{TTLSeconds: int(ttl / time.Second)}, &out)
	return out, err
}

// ListTokens lists the enrollment tokens (never their secrets) issued for
// device, or every token when device is empty.
func (c *Client) ListTokens(ctx context.Context, device string) ([]fleet.EnrollmentToken, error) {
	q := url.Values{}
	if device != "" {
		q.Set("device", device)
	}
	return listAll(ctx, c, "/v1/tokens", q, func(l *TokenList) []fleet.EnrollmentToken { return l.Tokens },
		func(l *TokenList) string { return l.Continue })
}

// DeleteTokens deletes every enrollment token issued for device, used or
// not.
func (c *Client) DeleteTokens(ctx context.Context, device string) error {
	return c.do(ctx, http.MethodDelete, "/v1/devices/"+url.PathEscape(device)+"/tokens", nil, nil, nil)
}

func (c *Client) RevokeDevice(ctx context.Context, device, reason string) (fleet.Device, error) {
	var out fleet.Device
	err := c.do(ctx, http.MethodPost, "/v1/devices/"+url.PathEscape(device)+"/revoke", nil, RevokeRequest{Reason: reason}, &out)
	return out, err
}

func (c *Client) SignCertificate(ctx context.Context, req CertificateRequest) (CertificateResponse, error) {
	var out CertificateResponse
	err := c.mint(ctx, "/v1/certificates", req, &out)
	return out, err
}

// ListCertificates lists the certificate ledger, only device's when device
// is not empty.
func (c *Client) ListCertificates(ctx context.Context, device string) ([]fleet.Certificate, error) {
	var q url.Values
	if device != "" {
		q = url.Values{"device": {device}}
	}
	return listAll(ctx, c, "/v1/certificates", q, func(l *CertificateList) []fleet.Certificate { return l.Certificates },
		func(l *CertificateList) string { return l.Continue })
}

// RevokeCertificate revokes one certificate, by serial (hex).
func (c *Client) RevokeCertificate(ctx context.Context, serial, reason string) (fleet.Certificate, error) {
	var out fleet.Certificate
	err := c.do(ctx, http.MethodPost, "/v1/certificates/"+url.PathEscape(serial)+"/revoke", nil, RevokeRequest{Reason: reason}, &out)
	return out, err
}

func (c *Client) UploadModule(ctx context.Context, wasm []byte) (ModuleResponse, error) {
	var out ModuleResponse
	err := c.do(ctx, http.MethodPost, "/v1/modules", nil, wasm, &out)
	return out, err
}

// CheckModule returns nil if the module can run where req says; an *Error
// with Board set says where it cannot.
func (c *Client) CheckModule(ctx context.Context, req CheckRequest) (CheckResponse, error) {
	var out CheckResponse
	err := c.do(ctx, http.MethodPost, "/v1/modules/check", nil, req, &out)
	return out, err
}

func (c *Client) GetApplication(ctx context.Context, name string) (fleet.Application, error) {
	var out fleet.Application
	err := c.do(ctx, http.MethodGet, "/v1/applications/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}

func (c *Client) ListApplications(ctx context.Context) ([]fleet.Application, error) {
	return listAll(ctx, c, "/v1/applications", nil, func(l *ApplicationList) []fleet.Application { return l.Applications },
		func(l *ApplicationList) string { return l.Continue })
}

func (c *Client) PutApplication(ctx context.Context, name string, spec ApplicationSpec) (fleet.Application, error) {
	var out fleet.Application
	err := c.do(ctx, http.MethodPut, "/v1/applications/"+url.PathEscape(name), nil, spec, &out)
	return out, err
}

func (c *Client) DeleteApplication(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/applications/"+url.PathEscape(name), nil, nil, nil)
}

func (c *Client) ApplicationStatus(ctx context.Context, name string) (ApplicationStatus, error) {
	var out ApplicationStatus
	err := c.do(ctx, http.MethodGet, "/v1/applications/"+url.PathEscape(name)+"/status", nil, nil, &out)
	return out, err
}

// DeviceMetrics is what the device measured of its apps in its latest
// heartbeat to the gateway.
func (c *Client) DeviceMetrics(ctx context.Context, name string) (DeviceMetrics, error) {
	var out DeviceMetrics
	err := c.do(ctx, http.MethodGet, "/v1/devices/"+url.PathEscape(name)+"/metrics", nil, nil, &out)
	return out, err
}

// RolloutAction applies action (fleet.ActionPause, ActionResume,
// ActionAbort, ActionPromote) to the application's progressive rollout;
// a 409 *Error when the rollout's phase does not allow it.
func (c *Client) RolloutAction(ctx context.Context, name, action string) (fleet.Application, error) {
	var out fleet.Application
	err := c.do(ctx, http.MethodPost, "/v1/applications/"+url.PathEscape(name)+"/rollout/"+url.PathEscape(action), nil, nil, &out)
	return out, err
}

func (c *Client) ApplicationOutput(ctx context.Context, name, device string, limit int) ([]fleet.OutputRecord, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if device != "" {
		q.Set("device", device)
	}
	var out OutputList
	err := c.do(ctx, http.MethodGet, "/v1/applications/"+url.PathEscape(name)+"/output", q, nil, &out)
	return out.Output, err
}

func (c *Client) Events(ctx context.Context, after uint64, limit int) ([]fleet.Event, error) {
	var out EventList
	err := c.do(ctx, http.MethodGet, "/v1/events", url.Values{"after": {strconv.FormatUint(after, 10)}, "limit": {strconv.Itoa(limit)}}, nil, &out)
	return out.Events, err
}

// Deployments lists deployments, of app and of device when not empty
// (including ones being removed from devices).
func (c *Client) Deployments(ctx context.Context, app, device string) ([]fleet.Deployment, error) {
	q := url.Values{}
	if app != "" {
		q.Set("app", app)
	}
	if device != "" {
		q.Set("device", device)
	}
	return listAll(ctx, c, "/v1/deployments", q, func(l *DeploymentList) []fleet.Deployment { return l.Deployments },
		func(l *DeploymentList) string { return l.Continue })
}

// CreateAPIToken mints a named API token; the answer holds its secret.
func (c *Client) CreateAPIToken(ctx context.Context, req APITokenRequest) (APITokenSecret, error) {
	var out APITokenSecret
	err := c.mint(ctx, "/v1/api-tokens", req, &out)
	return out, err
}

func (c *Client) GetAPIToken(ctx context.Context, name string) (APIToken, error) {
	var out APIToken
	err := c.do(ctx, http.MethodGet, "/v1/api-tokens/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}

func (c *Client) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	return listAll(ctx, c, "/v1/api-tokens", nil, func(l *APITokenList) []APIToken { return l.APITokens },
		func(l *APITokenList) string { return l.Continue })
}

func (c *Client) UpdateAPIToken(ctx context.Context, name string, u APITokenUpdate) (APIToken, error) {
	var out APIToken
	err := c.do(ctx, http.MethodPatch, "/v1/api-tokens/"+url.PathEscape(name), nil, u, &out)
	return out, err
}

// RotateAPIToken gives a named token a new secret; the answer holds it.
func (c *Client) RotateAPIToken(ctx context.Context, name string, req APITokenRotation) (APITokenSecret, error) {
	var out APITokenSecret
	err := c.mint(ctx, "/v1/api-tokens/"+url.PathEscape(name)+"/rotate", req, &out)
	return out, err
}

// DeleteAPIToken revokes a named token: refused from the next request on.
func (c *Client) DeleteAPIToken(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/api-tokens/"+url.PathEscape(name), nil, nil, nil)
}

// WhoAmI says which token the client holds: its name and role.
func (c *Client) WhoAmI(ctx context.Context) (WhoAmI, error) {
	var out WhoAmI
	err := c.do(ctx, http.MethodGet, "/v1/whoami", nil, nil, &out)
	return out, err
}

// Backup streams a backup of the gateway (GET /v1/backup, admin) to w: a
// gzipped tar for `wasmbed-gateway restore`. It returns the bytes written.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.JoinPath("/v1/backup").String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	tracing.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("gateway API GET /v1/backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e ErrorResponse
		if json.Unmarshal(raw, &e) != nil || e.Detail == "" {
			e.Detail = http.StatusText(resp.StatusCode)
		}
		return 0, &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Detail}
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("gateway API GET /v1/backup: the backup ended after %d bytes: %w", n, err)
	}
	return n, nil
}
