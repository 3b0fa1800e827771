node    { name = "red"  data_dir = "./data/red" }
