package ctl

import "testing"

func TestMappingFilterValidation(t *testing.T) {
	for f, ok := range map[string]bool{
		"sensors/#": true, "a/+/c": true, "#": true, "a/b": true,
		"": false, "a/#/b": false, "a#": false, "a/b+": false, "$share/g/a": false,
	} {
		if err := validFilter(f); (err == nil) != ok {
			t.Errorf("validFilter(%q) = %v, want ok %v", f, err, ok)
		}
	}
}
