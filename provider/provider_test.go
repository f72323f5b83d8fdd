package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// testProviders serves this provider in-process to the terraform binary the
// test harness runs (TF_ACC_TERRAFORM_PATH, else terraform on PATH).
var testProviders = map[string]func() (tfprotov6.ProviderServer, error){
	TypeName: providerserver.NewProtocol6WithError(New("test")()),
}

func TestProviderSchemaServes(t *testing.T) {
	srv, err := testProviders[TypeName]()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("schema diagnostic: %s: %s", d.Summary, d.Detail)
	}
	attrs := map[string]*tfprotov6.SchemaAttribute{}
	for _, a := range resp.Provider.Block.Attributes {
		attrs[a.Name] = a
	}
	for _, name := range []string{"endpoint", "token", "ca_cert"} {
		if attrs[name] == nil {
			t.Errorf("provider block lacks %q", name)
		}
	}
	if a := attrs["token"]; a != nil && !a.Sensitive {
		t.Error("token is not marked sensitive")
	}
}

// ValidateProviderConfig (what terraform validate and plan call) refuses a
// bad endpoint or CA certificate with a diagnostic on the attribute.
func TestValidateProviderConfig(t *testing.T) {
	srv, err := testProviders[TypeName]()
	if err != nil {
		t.Fatal(err)
	}
	kubeType := tftypes.Object{AttributeTypes: map[string]tftypes.Type{"kubeconfig": tftypes.String, "namespace": tftypes.String}}
	objType := tftypes.Object{AttributeTypes: map[string]tftypes.Type{
		"endpoint": tftypes.String, "token": tftypes.String, "ca_cert": tftypes.String, "kubernetes": kubeType}}
	config := func(endpoint, caCert string) *tfprotov6.DynamicValue {
		v := tftypes.NewValue(objType, map[string]tftypes.Value{
			"endpoint":   tftypes.NewValue(tftypes.String, endpoint),
			"token":      tftypes.NewValue(tftypes.String, "t"),
			"ca_cert":    tftypes.NewValue(tftypes.String, caCert),
			"kubernetes": tftypes.NewValue(kubeType, nil),
		})
		dv, err := tfprotov6.NewDynamicValue(objType, v)
		if err != nil {
			t.Fatal(err)
		}
		return &dv
	}
	for _, tc := range []struct {
		endpoint, caCert, wantSummary string
	}{
		{"https://127.0.0.1:8080", string(selfSignedPEM(t)), ""},
		{"ftp://gateway", "", "Invalid endpoint"},
		{"gateway:8080", "", "Invalid endpoint"},
		{"https://gw:8080", "not a certificate", "Invalid CA certificate"},
	} {
		resp, err := srv.ValidateProviderConfig(context.Background(), &tfprotov6.ValidateProviderConfigRequest{Config: config(tc.endpoint, tc.caCert)})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, d := range resp.Diagnostics {
			if d.Severity == tfprotov6.DiagnosticSeverityError {
				got = d.Summary
			}
		}
		if got != tc.wantSummary {
			t.Errorf("endpoint %q: error %q, want %q", tc.endpoint, got, tc.wantSummary)
		}
	}
}

func TestResolveSettings(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, selfSignedPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvToken: "from-env", EnvCACertFile: caFile}
	s, diags := resolveSettings(configModel{}, func(k string) string { return env[k] })
	if diags.HasError() {
		t.Fatalf("diagnostics: %v", diags)
	}
	if s.Endpoint.String() != DefaultEndpoint || s.Token != "from-env" || s.CAPool == nil {
		t.Fatalf("got %+v", s)
	}

	s, diags = resolveSettings(configModel{Endpoint: types.StringValue("http://10.0.0.1:9000"), Token: types.StringValue("cfg")},
		func(k string) string { return env[k] })
	if diags.HasError() || s.Endpoint.Host != "10.0.0.1:9000" || s.Token != "cfg" {
		t.Fatalf("config did not win over env: %+v %v", s, diags)
	}

	for name, cfg := range map[string]configModel{
		"no token":  {},
		"bad url":   {Endpoint: types.StringValue("gateway:8080"), Token: types.StringValue("t")},
		"bad ca":    {Token: types.StringValue("t"), CACert: types.StringValue("not pem")},
		"no scheme": {Endpoint: types.StringValue("//host"), Token: types.StringValue("t")},
	} {
		if _, diags := resolveSettings(cfg, func(string) string { return "" }); !diags.HasError() {
			t.Errorf("%s: accepted", name)
		}
	}
}

// selfSignedPEM makes a throwaway CA certificate.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
