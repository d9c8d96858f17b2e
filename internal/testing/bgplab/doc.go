// Package bgplab holds the BGP tests on the wire: vigil directors announcing a virtual IP
// to FRR (Debian's zebra and bgpd) in network namespaces, which installs an ECMP route.
package bgplab
