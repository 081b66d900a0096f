"""How the API is spoken: request bodies and query values, the three patch formats, label and field selectors,
`kubectl get` tables with their JSONPath columns, and the protobuf bodies kubectl's generators send.

Pure codecs over plain dicts and bytes, as apimachinery reads and writes them; nothing here knows the storage.
"""
