package provider

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/wasmbed/wasmbed/fleet"
)

// deviceState (Read's direct state) is what fill and State.Set make, for
// the states a Read meets: imported (only id and name), with and without
// labels and gateway, enrolled.
func TestDeviceStateMatchesModel(t *testing.T) {
	ctx := context.Background()
	var sr resource.SchemaResponse
	(&deviceResource{}).Schema(ctx, resource.SchemaRequest{}, &sr)
	sch := sr.Schema
	typ := sch.Type().TerraformType(ctx)
	notAfter := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	imported := deviceModel{ID: types.StringValue("d1"), Name: types.StringValue("d1"), Board: types.StringNull(),
		Labels: types.MapNull(types.StringType), Gateway: types.StringNull(), Phase: types.StringNull(),
		CertSerial: types.StringNull(), CertNotAfter: types.StringNull()}
	withBoth := imported
	withBoth.Board, withBoth.Phase = types.StringValue("linux"), types.StringValue("registered")
	withBoth.Labels = types.MapValueMust(types.StringType, map[string]attr.Value{"site": types.StringValue("a")})
	withBoth.Gateway = types.StringValue("gw")
	for _, c := range []struct {
		name  string
		prior deviceModel
		dev   fleet.Device
	}{
		{"imported, bare device", imported, fleet.Device{Name: "d1", Board: "linux", Status: fleet.DeviceStatus{Phase: "registered"}}},
		{"imported, labels and gateway", imported, fleet.Device{Name: "d1", Board: "linux", Labels: map[string]string{"a": "1", "b": ""}, Gateway: "gw",
			Status: fleet.DeviceStatus{Phase: "online", CertSerial: "0abc", CertNotAfter: notAfter}}},
		{"labels and gateway removed outside", withBoth, fleet.Device{Name: "d1", Board: "linux", Status: fleet.DeviceStatus{Phase: "offline"}}},
		{"unchanged", withBoth, fleet.Device{Name: "d1", Board: "linux", Labels: map[string]string{"site": "a"}, Gateway: "gw",
			Status: fleet.DeviceStatus{Phase: "registered"}}},
	} {
		st := tfsdk.State{Schema: sch, Raw: tftypes.NewValue(typ, nil)}
		if d := st.Set(ctx, &c.prior); d.HasError() {
			t.Fatalf("%s: %v", c.name, d)
		}
		var prior map[string]tftypes.Value
		if err := st.Raw.As(&prior); err != nil {
			t.Fatal(err)
		}
		got, err := deviceState(typ, prior, &c.dev)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m := c.prior
		m.fill(&c.dev)
		want := tfsdk.State{Schema: sch, Raw: tftypes.NewValue(typ, nil)}
		if d := want.Set(ctx, &m); d.HasError() {
			t.Fatalf("%s: %v", c.name, d)
		}
		if !got.Equal(want.Raw) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, want.Raw)
		}
	}
}
