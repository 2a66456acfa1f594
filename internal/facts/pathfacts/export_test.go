package pathfacts

import "net/url"

var urlPathUnescape = url.PathUnescape
