// Package provider is the Terraform provider for Wasmbed: resources, data
// sources and the provider configuration that says which control plane they
// talk to.
package provider

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/tracing"
)

// TypeName is the provider's type name: resources are called wasmbed_*.
const TypeName = "wasmbed"

// Provider is the wasmbed provider. It talks to a gateway's management API
// (the standalone backend), or, with a kubernetes block, to the fleet's
// custom resources in a Kubernetes namespace; see Backend.
type Provider struct {
	version string
}

var (
	_ provider.Provider                       = (*Provider)(nil)
	_ provider.ProviderWithValidateConfig     = (*Provider)(nil)
	_ provider.ProviderWithEphemeralResources = (*Provider)(nil)
)

// New returns a constructor for the provider, as providerserver wants it.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &Provider{version: version} }
}

// configModel is the provider block.
type configModel struct {
	Endpoint   types.String     `tfsdk:"endpoint"`
	Token      types.String     `tfsdk:"token"`
	CACert     types.String     `tfsdk:"ca_cert"`
	Kubernetes *kubernetesModel `tfsdk:"kubernetes"`
}

// kubernetesModel is the kubernetes block: the Kubernetes backend.
type kubernetesModel struct {
	Kubeconfig types.String `tfsdk:"kubeconfig"`
	Namespace  types.String `tfsdk:"namespace"`
}

func (p *Provider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = TypeName
	resp.Version = p.version
}

func (p *Provider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Manage a Wasmbed fleet (gateways, devices, certificates and WebAssembly applications) through a gateway's management API " +
			"(the standalone backend: `endpoint`, `token`, `ca_cert`), or through the Device, Application and Gateway custom resources of a " +
			"Kubernetes namespace (the `kubernetes` block).",
		Blocks: map[string]schema.Block{
			"kubernetes": schema.SingleNestedBlock{
				Description: "Use the Kubernetes backend: the fleet is the custom resources (fleet.wasmbed.dev) of one namespace, served by " +
					"gateways in Kubernetes mode and the controller. Give it neither `endpoint`, `token` nor `ca_cert`. " +
					"`wasmbed_certificate` and `wasmbed_api_token` are not available with this backend (devices enroll with one-time tokens; access is Kubernetes RBAC's).",
				Attributes: map[string]schema.Attribute{
					"kubeconfig": schema.StringAttribute{Optional: true,
						Description: "Path of the kubeconfig file. Defaults to `$KUBECONFIG`, then `~/.kube/config`, then the pod's service account."},
					"namespace": schema.StringAttribute{Optional: true,
						Description: "Namespace of the fleet. Defaults to the kubeconfig context's namespace, then `default`."},
				},
			},
		},
		Attributes: map[string]schema.Attribute{
			"endpoint": schema.StringAttribute{
				Description: "URL of the gateway management API, e.g. `https://127.0.0.1:8080`. Defaults to the `" + EnvEndpoint + "` environment variable, then to `" + DefaultEndpoint + "`.",
				Optional:    true,
			},
			"token": schema.StringAttribute{
				Description: "Bearer token for the management API. Defaults to the `" + EnvToken + "` environment variable.",
				Optional:    true,
				Sensitive:   true,
			},
			"ca_cert": schema.StringAttribute{
				Description: "PEM certificate of the CA that signed the management API's server certificate. Defaults to the contents of the file named by the `" + EnvCACertFile + "` environment variable.",
				Optional:    true,
			},
		},
	}
}

// ValidateConfig checks the values written in the provider block, so a typo
// fails at validate and plan time even before any resource needs the API.
func (p *Provider) ValidateConfig(ctx context.Context, req provider.ValidateConfigRequest, resp *provider.ValidateConfigResponse) {
	var cfg configModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if cfg.Kubernetes != nil {
		for _, a := range []struct {
			name string
			v    types.String
		}{{"endpoint", cfg.Endpoint}, {"token", cfg.Token}, {"ca_cert", cfg.CACert}} {
			if !a.v.IsNull() {
				resp.Diagnostics.AddAttributeError(path.Root(a.name), "Conflicting backends",
					a.name+" is for the standalone backend (a gateway's management API); the kubernetes block selects the Kubernetes backend. Give one or the other.")
			}
		}
		return
	}
	if cfg.Endpoint.ValueString() != "" {
		_, diags := parseEndpoint(cfg.Endpoint.ValueString())
		resp.Diagnostics.Append(diags...)
	}
	if cfg.CACert.ValueString() != "" {
		_, diags := parseCACert(cfg.CACert.ValueString())
		resp.Diagnostics.Append(diags...)
	}
}

func (p *Provider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	// Traces, when the environment asks for them (tracing.go).
	if err := tracing.InstallGlobal(ctx, "terraform-provider-wasmbed", p.version); err != nil {
		resp.Diagnostics.AddWarning("Tracing is off", "OTEL_EXPORTER_OTLP_* is set, but the exporter cannot be made: "+err.Error())
	}
	ctx, end := startOp(ctx, "wasmbed", "configure")
	defer end(&resp.Diagnostics)
	var cfg configModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var backend Backend
	if k := cfg.Kubernetes; k != nil {
		rc, ns, err := kubestore.RESTConfig(k.Kubeconfig.ValueString(), k.Namespace.ValueString())
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("kubernetes").AtName("kubeconfig"), "Cannot load the Kubernetes configuration", err.Error())
			return
		}
		kb, err := newKubeBackend(ctx, rc, ns)
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("kubernetes"), "Cannot reach the fleet in Kubernetes",
				fmt.Sprintf("API server %s, namespace %s: %v", rc.Host, ns, err))
			return
		}
		backend = kb
	} else {
		settings, diags := resolveSettings(cfg, lookupEnv)
		resp.Diagnostics.Append(diags...)
		if resp.Diagnostics.HasError() {
			return
		}
		client := apiv1.NewClient(settings.Endpoint, settings.Token, settings.CAPool)
		// One read, so that a wrong endpoint, token or CA fails at plan with
		// what is wrong, whatever the configuration holds.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := client.CA(cctx)
		cancel()
		if err != nil {
			resp.Diagnostics.AddError("Cannot use the gateway's management API at "+settings.Endpoint.String(), connectHint(err))
			return
		}
		backend = &gatewayBackend{Client: client, reads: newDeviceReads(client)}
	}
	resp.ResourceData = backend
	resp.DataSourceData = backend
	resp.EphemeralResourceData = backend
}

func (p *Provider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewGatewayResource, NewDeviceResource, NewCertificateResource, NewApplicationResource, NewProvisioningBundleResource, NewAPITokenResource}
}

func (p *Provider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewDevicesDataSource, NewApplicationDataSource, NewGatewayDataSource}
}

func (p *Provider) EphemeralResources(context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{NewEnrollmentTokenEphemeral}
}

// connectHint says which setting an error of the first request points at.
func connectHint(err error) string {
	var apiErr *apiv1.Error
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized:
		return err.Error() + "\n\nThe gateway refused the token: check token (or " + EnvToken + "); a gateway writes its admin token to DATA_DIR/admin.token and a reader token (enough for plan) to DATA_DIR/reader.token."
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname):
		return err.Error() + "\n\nThe gateway's certificate does not verify: check ca_cert (or " + EnvCACertFile + "), the gateway's DATA_DIR/ca.crt, and that endpoint names the host the certificate is for."
	default:
		return err.Error() + "\n\nCheck endpoint (or " + EnvEndpoint + ") and that the gateway is running."
	}
}
