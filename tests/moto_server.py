"""moto's server as the tests run it: like `moto_server`, except that an access key IAM marked
Inactive (UpdateAccessKey) is refused as AWS refuses it. moto 5.2 still accepts such a key;
the guided rotation's step 3 is checked against a peer that behaves like IAM."""

import sys

from moto.iam import access_control
from moto.server import main

_accept = access_control.IAMUserAccessKey.__init__


def _accept_active_only(self, account_id, partition, access_key_id, headers):
    _accept(self, account_id, partition, access_key_id, headers)
    for user in self.backend.list_users("/", None, None):
        for key in user.access_keys:
            if key.access_key_id == access_key_id and key.status != "Active":
                raise access_control.CreateAccessKeyFailure(reason="InvalidId")


access_control.IAMUserAccessKey.__init__ = _accept_active_only

if __name__ == "__main__":
    sys.exit(main())
