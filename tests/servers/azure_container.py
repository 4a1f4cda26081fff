"""Creates a blob container on Azurite with a SharedKey-signed request
(the test script's set-up; mlci itself never creates buckets or containers).

Usage: azure_container.py ENDPOINT ACCOUNT KEY CONTAINER
"""
import base64, hashlib, hmac, sys, urllib.request
from email.utils import formatdate

endpoint, account, key, container = sys.argv[1:5]
date = formatdate(usegmt=True)
version = "2021-08-06"
canon_headers = f"x-ms-date:{date}\nx-ms-version:{version}\n"
canon_resource = f"/{account}/{account}/{container}\nrestype:container"
to_sign = "PUT\n\n\n\n\n\n\n\n\n\n\n\n" + canon_headers + canon_resource
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(f"{endpoint}/{container}?restype=container", method="PUT")
req.add_header("x-ms-date", date)
req.add_header("x-ms-version", version)
req.add_header("Authorization", f"SharedKey {account}:{sig}")
req.add_header("Content-Length", "0")
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    if e.code != 409:  # 409: exists already
        sys.exit(f"creating container {container}: HTTP {e.code}: {e.read()[:300]!r}")
