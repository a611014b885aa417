// goverify DIR: the verdict of Go's crypto/x509 (x509.Verify, standard
// library only) on every chain pathgen made in DIR. One line per case of
// DIR/cases.tsv: "name<TAB>ok" or "name<TAB>reject<TAB>error". A chain
// whose certificates Go cannot parse is a reject too. Used by
// tests/e2e/trust_pathrules.sh, which compares these with the verdicts
// of hkms's webpki profile.
package main

import (
	"bufio"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func load(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	return certs, nil
}

func verify(dir, purpose, host string) error {
	roots, err := load(filepath.Join(dir, "anchor.pem"))
	if err != nil {
		return err
	}
	chain, err := load(filepath.Join(dir, "chain.pem"))
	if err != nil {
		return err
	}
	opts := x509.VerifyOptions{
		Roots:         x509.NewCertPool(),
		Intermediates: x509.NewCertPool(),
	}
	for _, r := range roots {
		opts.Roots.AddCert(r)
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if host != "-" {
		opts.DNSName = host
	}
	switch purpose {
	case "server":
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	case "client":
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	_, err = chain[0].Verify(opts)
	return err
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goverify DIR")
		os.Exit(2)
	}
	f, err := os.Open(filepath.Join(os.Args[1], "cases.tsv"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fl := strings.Split(s.Text(), "\t")
		if len(fl) < 3 {
			continue
		}
		err := verify(filepath.Join(os.Args[1], fl[0]), fl[1], fl[2])
		if err != nil {
			msg := strings.ReplaceAll(err.Error(), "\t", " ")
			fmt.Printf("%s\treject\t%s\n", fl[0], msg)
		} else {
			fmt.Printf("%s\tok\n", fl[0])
		}
	}
}
