codec "gzip" {}
codec "gzip" {}
