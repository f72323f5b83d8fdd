terraform import wasmbed_gateway.north north
