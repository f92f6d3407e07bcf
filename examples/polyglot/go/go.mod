module wasmtaps.local/examples/polyglot

go 1.24

require wasmtaps.local/guest v0.0.0

replace wasmtaps.local/guest => ../../../guest-sdk/go
