// Command wasmtaps-manifest adds the `wasmtaps.tasks` manifest (docs/abi.md section 7)
// to a Go-built task module, since the Go toolchain cannot emit custom sections.
//
//	go run wasmtaps.local/guest/cmd/wasmtaps-manifest -wasm tasks.wasm tasks.go ...
//
// It finds every `wasmtaps.Task("name", []string{"p", ...}, ...)` call in the given
// Go sources and appends one custom section with an entry per task.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
)

var (
	taskCall = regexp.MustCompile(`wasmtaps\.Task\(\s*"([^"]+)"\s*,\s*\[\]string\{([^}]*)\}`)
	quoted   = regexp.MustCompile(`"([^"]*)"`)
)

func str(b *bytes.Buffer, s string) {
	b.WriteByte(0xd9)
	b.WriteByte(byte(len(s)))
	b.WriteString(s)
}

func uleb(b *bytes.Buffer, v int) {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b.WriteByte(c)
		if v == 0 {
			return
		}
	}
}

func main() {
	wasm := flag.String("wasm", "", "the module to add the manifest to (rewritten in place)")
	flag.Parse()
	if *wasm == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: wasmtaps-manifest -wasm module.wasm source.go ...")
		os.Exit(2)
	}
	var manifest bytes.Buffer
	for _, path := range flag.Args() {
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, m := range taskCall.FindAllSubmatch(src, -1) {
			params := quoted.FindAllSubmatch(m[2], -1)
			if len(params) > 15 {
				fmt.Fprintf(os.Stderr, "task %s: more than 15 parameters\n", m[1])
				os.Exit(1)
			}
			manifest.WriteByte(0x84)
			str(&manifest, "abi")
			manifest.WriteByte(1)
			str(&manifest, "name")
			str(&manifest, string(m[1]))
			str(&manifest, "export")
			str(&manifest, "wasmtaps_task_"+string(m[1]))
			str(&manifest, "params")
			manifest.WriteByte(0x90 | byte(len(params)))
			for _, p := range params {
				str(&manifest, string(p[1]))
			}
		}
	}
	module, err := os.ReadFile(*wasm)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	const name = "wasmtaps.tasks"
	var payload, section bytes.Buffer
	uleb(&payload, len(name))
	payload.WriteString(name)
	payload.Write(manifest.Bytes())
	section.WriteByte(0) // custom section
	uleb(&section, payload.Len())
	section.Write(payload.Bytes())
	if err := os.WriteFile(*wasm, append(module, section.Bytes()...), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
