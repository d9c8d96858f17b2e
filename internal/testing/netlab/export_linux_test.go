package netlab

// SweepStale exposes sweepStale to the external tests.
var SweepStale = sweepStale
