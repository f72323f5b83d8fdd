# A registered gateway, by name.
import {
  to = wasmbed_gateway.north
  id = "north"
}
