package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/internal/app"
)

// loadConfig reads the file (if any) strictly, applies KEYWARD_* overrides and validates.
func loadConfig(path string, environ []string) (app.Config, error) {
	c := app.DefaultConfig()
	c.Sources = map[string]string{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		var raw map[string]any
		_ = yaml.Unmarshal(data, &raw)
		markSources(raw, "", c.Sources, "file")
	}
	if err := applyEnv(&c, environ); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func markSources(m map[string]any, prefix string, out map[string]string, src string) {
	for k, v := range m {
		key := prefix + k
		out[key] = src
		if sub, ok := v.(map[string]any); ok {
			markSources(sub, key+".", out, src)
		}
	}
}

// applyEnv walks the struct by yaml tags: key a.b_c is set by KEYWARD_A_B_C.
func applyEnv(c *app.Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "KEYWARD_") {
			env[k] = v
		}
	}
	var errs []error
	var walk func(v reflect.Value, path []string)
	walk = func(v reflect.Value, path []string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" || tag == "clients" {
				continue
			}
			p := append(append([]string{}, path...), tag)
			fv := v.Field(i)
			if f.Type.Kind() == reflect.Struct {
				walk(fv, p)
				continue
			}
			name := "KEYWARD_" + strings.ToUpper(strings.Join(p, "_"))
			val, ok := env[name]
			if !ok {
				continue
			}
			key := strings.Join(p, ".")
			if err := setScalar(fv, val); err != nil {
				errs = append(errs, fmt.Errorf("config: %s (from %s): %v", key, name, err))
				continue
			}
			c.Sources[key] = "env " + name
		}
	}
	walk(reflect.ValueOf(c).Elem(), nil)
	return errors.Join(errs...)
}

func setScalar(v reflect.Value, s string) error {
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(n))
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}
