node {
  name = node_name
}
