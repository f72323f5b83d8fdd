// Package provider is the Terraform provider for Wasmbed: resources, data
// sources and the provider configuration that says which control plane they
// talk to.
package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// TypeName is the provider's type name: resources are called wasmbed_*.
const TypeName = "wasmbed"

// Provider is the wasmbed provider. It talks to a gateway's management API
// (the standalone backend); see Backend.
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
	Endpoint types.String `tfsdk:"endpoint"`
	Token    types.String `tfsdk:"token"`
	CACert   types.String `tfsdk:"ca_cert"`
}

func (p *Provider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = TypeName
	resp.Version = p.version
}

func (p *Provider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Manage a Wasmbed fleet (gateways, devices, certificates and WebAssembly applications) through a gateway's management API.",
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
	var cfg configModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	settings, diags := resolveSettings(cfg, lookupEnv)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	var backend Backend = apiv1.NewClient(settings.Endpoint, settings.Token, settings.CAPool)
	resp.ResourceData = backend
	resp.DataSourceData = backend
	resp.EphemeralResourceData = backend
}

func (p *Provider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewGatewayResource, NewDeviceResource, NewCertificateResource, NewApplicationResource, NewProvisioningBundleResource}
}

func (p *Provider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewDevicesDataSource, NewApplicationDataSource, NewGatewayDataSource}
}

func (p *Provider) EphemeralResources(context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{NewEnrollmentTokenEphemeral}
}
