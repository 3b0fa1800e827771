node {
  meta = {
    rack = "r1"
    dc   = "eu-1\n"
  }
}
