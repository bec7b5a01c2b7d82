"""Pod networking through the standard CNI plugins: conf.py finds and checks
network configurations and port mappings, cni.py runs the plugin chains
(ADD, CHECK, DEL, gc), store.py keeps the durable attachment records."""
