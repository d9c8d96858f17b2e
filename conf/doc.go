// Package conf turns an HCL configuration file into a validated, typed Config with
// defaults filled in, reporting every problem as an hcl.Diagnostic with a source range.
package conf
