package provider

import (
	"crypto/x509"
	"net/url"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
)

// Environment variables the provider block falls back to.
const (
	EnvEndpoint   = "WASMBED_ENDPOINT"
	EnvToken      = "WASMBED_TOKEN"
	EnvCACertFile = "WASMBED_CA_CERT_FILE"

	DefaultEndpoint = "https://127.0.0.1:8080"
)

// Settings is the resolved provider configuration handed to resources.
type Settings struct {
	Endpoint *url.URL
	Token    string
	CAPool   *x509.CertPool // nil: the system roots
}

func lookupEnv(k string) string { return os.Getenv(k) }

// resolveSettings applies environment defaults and checks the values, with a
// diagnostic on the attribute at fault.
func resolveSettings(cfg configModel, env func(string) string) (*Settings, diag.Diagnostics) {
	var diags diag.Diagnostics
	s := &Settings{}

	endpoint := cfg.Endpoint.ValueString()
	if endpoint == "" {
		endpoint = env(EnvEndpoint)
	}
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	var d diag.Diagnostics
	s.Endpoint, d = parseEndpoint(endpoint)
	diags.Append(d...)

	s.Token = cfg.Token.ValueString()
	if s.Token == "" {
		s.Token = env(EnvToken)
	}
	if s.Token == "" {
		diags.AddAttributeError(path.Root("token"), "Missing API token",
			"Set token in the provider block or the "+EnvToken+" environment variable.")
	}

	pem := cfg.CACert.ValueString()
	if pem == "" {
		if file := env(EnvCACertFile); file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				diags.AddAttributeError(path.Root("ca_cert"), "Cannot read CA certificate", EnvCACertFile+": "+err.Error())
			}
			pem = string(b)
		}
	}
	if pem != "" {
		s.CAPool, d = parseCACert(pem)
		diags.Append(d...)
	}
	return s, diags
}

func parseEndpoint(endpoint string) (*url.URL, diag.Diagnostics) {
	var diags diag.Diagnostics
	u, err := url.Parse(endpoint)
	if err != nil {
		diags.AddAttributeError(path.Root("endpoint"), "Invalid endpoint", "The endpoint is not a URL: "+err.Error())
		return nil, diags
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		diags.AddAttributeError(path.Root("endpoint"), "Invalid endpoint",
			"The endpoint must be an absolute http(s) URL such as "+DefaultEndpoint+", got "+endpoint+".")
		return nil, diags
	}
	return u, diags
}

func parseCACert(pem string) (*x509.CertPool, diag.Diagnostics) {
	var diags diag.Diagnostics
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pem)) {
		diags.AddAttributeError(path.Root("ca_cert"), "Invalid CA certificate", "ca_cert holds no PEM certificate.")
		return nil, diags
	}
	return pool, diags
}
