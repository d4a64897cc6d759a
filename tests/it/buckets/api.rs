//! The Buckets console through `/api/v1`, against moto (signatures checked) and Swift's s3api with
//! a Keystone EC2 pair: the same operations as the pages, with their refusals as JSON errors.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    AWKWARD_NAMES, audited, curl, encode, file_of, import_key, moto::moto_console, put_many,
};
use crate::{
    api::{ApiApp, error_code},
    backends::{Moto, OpenStack},
    helpers::ADMIN_EMAIL,
};

/// The API's console of one service for one caller.
struct Api<'a> {
    api: &'a ApiApp,
    token: String,
    base: String,
    /// `?credential=...`, the key acted with.
    acting: String,
}

impl<'a> Api<'a> {
    /// The same console for the caller of `token`, acting with `acting`.
    fn as_caller(&self, token: &str, acting: &str) -> Api<'a> {
        Api {
            api: self.api,
            token: token.to_string(),
            base: self.base.clone(),
            acting: acting.to_string(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, text) = self
            .api
            .call(
                Some(&self.token),
                method.clone(),
                &format!("{}{path}{}", self.base, self.acting(path)),
                body.as_ref(),
            )
            .await;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}: {status} {text}"));
        (status, value)
    }

    /// The key's query, joined to `path`'s own.
    fn acting(&self, path: &str) -> String {
        let join = if path.contains('?') { '&' } else { '?' };
        format!("{join}{}", self.acting)
    }

    async fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let path = format!(
            "{}/{bucket}/objects?key={}&{}",
            self.base,
            encode(key),
            self.acting
        );
        let (status, text) = self.api.put_bytes(&self.token, &path, bytes).await;
        (status, serde_json::from_str(&text).unwrap())
    }

    /// Every key under `prefix`, following `next`; and the pages read.
    async fn all_keys(&self, bucket: &str, prefix: &str) -> (Vec<String>, Vec<String>, usize) {
        let mut keys = Vec::new();
        let mut folders = Vec::new();
        let mut start = String::new();
        let mut pages = 0;
        loop {
            let path = format!(
                "/{bucket}/objects?prefix={}&start={}",
                encode(prefix),
                encode(&start)
            );
            let (status, page) = self.call(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            pages += 1;
            for object in page["objects"].as_array().unwrap() {
                keys.push(object["key"].as_str().unwrap().to_string());
                assert!(object["size"].as_u64().is_some());
                assert!(!object["last_modified"].as_str().unwrap().is_empty());
            }
            for folder in page["folders"].as_array().unwrap() {
                folders.push(folder.as_str().unwrap().to_string());
            }
            match page["next"].as_str() {
                Some(next) => start = next.to_string(),
                None => return (keys, folders, pages),
            }
        }
    }
}

fn message(value: &Value) -> String {
    value["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn api_buckets_at_moto_create_upload_page_download_and_delete() {
    let (moto, key) = Moto::start().await;
    let api = ApiApp::spawn().await;
    let console = moto_console(&api.app, &moto, &key).await;
    let owner = Api {
        api: &api,
        token: api.token_of(ADMIN_EMAIL).await,
        base: format!("/projects/team/services/{}/buckets", console.service),
        acting: format!("credential={}", console.credential),
    };

    let (status, listing) = owner.call(Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["buckets"], json!([]));
    assert_eq!(listing["key"]["id"], console.credential.as_str());
    assert_eq!(listing["key"]["access_key"], key.access_key.as_str());
    assert_eq!(listing["signing_region"], "us-east-1");
    assert_eq!(listing["s3_url"], format!("{}/", moto.url).as_str());

    // S3's naming rules are checked before any request.
    let (status, refused) = owner
        .call(Method::POST, "", Some(json!({"name": "Bad_Name"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["fields"][0]["field"], "name", "{refused}");

    let (status, made) = owner
        .call(Method::POST, "", Some(json!({"name": "api-files"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["name"], "api-files");
    assert_eq!(made["region"], "us-east-1");
    assert_eq!(made["path_style_url"], format!("{}/api-files", moto.url));
    assert_eq!(made["virtual_hosted_url"], Value::Null, "an address");
    let (status, again) = owner
        .call(Method::POST, "", Some(json!({"name": "api-files"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        message(&again).contains("BucketAlreadyOwnedByYou"),
        "{again}"
    );

    // Larger than the 64 KiB every other request may send; odd names round-trip.
    let big = file_of(300 * 1024);
    let (status, stored) = owner.put("api-files", "big.bin", big.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["size"], big.len());
    for name in AWKWARD_NAMES {
        let (status, stored) = owner.put("api-files", name, name.into()).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {stored}");
    }
    put_many(&moto.url, "us-east-1", &key, "api-files", "many/", 2_500);

    let (mut root, folders, _) = owner.all_keys("api-files", "").await;
    root.sort();
    let mut expected: Vec<&str> = AWKWARD_NAMES
        .iter()
        .copied()
        .filter(|n| !n.contains('/'))
        .chain(["big.bin"])
        .collect();
    expected.sort();
    assert_eq!(root, expected, "names round-trip exactly");
    assert_eq!(folders, ["dir/", "many/"]);
    let (many, _, pages) = owner.all_keys("api-files", "many/").await;
    assert_eq!(many.len(), 2_500);
    assert_eq!(pages, 13, "200 a page");
    let (inside, _, _) = owner.all_keys("api-files", "dir/a..b/").await;
    assert_eq!(inside, ["dir/a..b/c..txt"]);

    // The download URL is presigned with the key; the secret stays in Keyport. (moto answers
    // presigned URLs with HTTP 500 when checking signatures: Swift's s3api serves one below.)
    let (status, download) = owner
        .call(
            Method::POST,
            "/api-files/objects/download-url",
            Some(json!({"key": "big.bin"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{download}");
    let url = download["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/api-files/big.bin?", moto.url)),
        "{url}"
    );
    assert!(url.contains(&key.access_key) && !url.contains(&key.secret));
    assert_eq!(download["expires_in"], 300);

    let (status, none) = owner
        .call(
            Method::POST,
            "/api-files/objects/delete",
            Some(json!({"keys": []})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{none}");
    let (status, deleted) = owner
        .call(
            Method::POST,
            "/api-files/objects/delete",
            Some(json!({"keys": ["plus+sign.txt", "with space.txt"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, json!({"deleted": 2, "failed": []}));

    // A bucket that holds objects is refused with their count; `empty` must name it.
    let held = expected.len() - 2 + 1 + 2_500;
    let (status, refused) = owner.call(Method::DELETE, "/api-files", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&refused.to_string()), "refused");
    assert!(
        message(&refused).contains(&format!("holds {held} objects")),
        "{refused}"
    );
    let (status, wrong) = owner
        .call(Method::DELETE, "/api-files?empty=api-file", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
    let (status, gone) = owner
        .call(Method::DELETE, "/api-files?empty=api-files", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone, json!({"name": "api-files", "emptied": held}));
    let (status, missing) = owner.call(Method::GET, "/api-files/objects", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(message(&missing).contains("NoSuchBucket"), "{missing}");

    // Audited with the key used, as the pages' operations are.
    assert_eq!(
        audited(&api.app, "object.upload").await.len(),
        1 + AWKWARD_NAMES.len()
    );
    for action in [
        "bucket.create",
        "object.download",
        "object.delete",
        "bucket.delete",
    ] {
        let events = audited(&api.app, action).await;
        assert!(!events.is_empty(), "{action}");
        assert!(events.iter().all(|(_, d)| d.contains(&key.access_key)));
    }
}

#[tokio::test]
async fn api_buckets_refuse_other_keys_viewers_and_uploads_over_the_limit() {
    let (moto, key) = Moto::start().await;
    let api = ApiApp::spawn_with(|config| config.upload_max_megabytes = 1).await;
    let console = moto_console(&api.app, &moto, &key).await;
    let member = super::member(&api.app, &console.who, "carol@example.org", "member").await;
    let carols = import_key(
        &api.app,
        &member,
        &console.service,
        "key",
        "carols",
        &key,
        "me",
    )
    .await;
    super::member(&api.app, &console.who, "vic@example.org", "viewer").await;
    let carol = Api {
        api: &api,
        token: api.token_of("carol@example.org").await,
        base: format!("/projects/team/services/{}/buckets", console.service),
        acting: format!("credential={carols}"),
    };
    let (status, made) = carol
        .call(Method::POST, "", Some(json!({"name": "carols"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, listing) = carol.call(Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listing["keys"].as_array().unwrap().len(), 1, "her key only");

    // The owner's key named by Carol is not found, and nothing is done with it.
    let forged = carol.as_caller(&carol.token, &format!("credential={}", console.credential));
    for (method, path, body) in [
        (Method::GET, "", None),
        (Method::POST, "", Some(json!({"name": "forged"}))),
        (Method::DELETE, "/carols", None),
        (Method::GET, "/carols/objects", None),
        (
            Method::POST,
            "/carols/objects/delete",
            Some(json!({"keys": ["x"]})),
        ),
        (
            Method::POST,
            "/carols/objects/download-url",
            Some(json!({"key": "x"})),
        ),
    ] {
        let (status, _) = forged.call(method.clone(), path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let (status, _) = forged.put("carols", "x", vec![1]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(audited(&api.app, "object.download").await.is_empty());
    let (_, listing) = carol.call(Method::GET, "", None).await;
    assert_eq!(listing["buckets"][0]["name"], "carols", "nothing deleted");

    // A member may not empty a bucket to delete it; a viewer acts with no key at all.
    carol.put("carols", "kept.bin", vec![1, 2, 3]).await;
    let (status, refused) = carol
        .call(Method::DELETE, "/carols?empty=carols", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let viewer = carol.as_caller(&api.token_of("vic@example.org").await, "");
    let (status, refused) = viewer.call(Method::GET, "", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, _) = viewer.put("carols", "v.bin", vec![1]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Over the instance's limit nothing is stored; at the limit it is.
    let (status, refused) = carol
        .put("carols", "big.bin", file_of(1024 * 1024 + 1))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert!(message(&refused).contains("larger than 1 MB"), "{refused}");
    let (status, _) = carol.put("carols", "fits.bin", file_of(1024 * 1024)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (keys, _, _) = carol.all_keys("carols", "").await;
    assert_eq!(keys, ["fits.bin", "kept.bin"]);
}

#[tokio::test]
async fn api_buckets_at_swift_s3api_with_an_ec2_pair_and_a_presigned_download() {
    let stack = OpenStack::get();
    let user = stack.create_user().await;
    let ec2 = stack.create_ec2(&user).await;
    let api = ApiApp::spawn().await;
    let owner = api.app.admin().await;
    api.app.project(&owner, "team", "").await;
    let service_path = api
        .app
        .service(&owner, "openstack", "Cloud", &user.project)
        .await;
    api.app
        .endpoint(
            &owner,
            &service_path,
            ["Loopback", &stack.region, "auth", &stack.keystone_url],
        )
        .await;
    let swift = format!("{}/v1/AUTH_{}", stack.swift_url, user.project_id);
    api.app
        .endpoint(
            &owner,
            &service_path,
            ["Loopback", &stack.region, "public", &swift],
        )
        .await;
    let service = service_path.rsplit('/').next().unwrap().to_string();
    let credential = import_key(&api.app, &owner, &service, "ec2", "ec2", &ec2, "me").await;
    let cloud = Api {
        api: &api,
        token: api.token_of(ADMIN_EMAIL).await,
        base: format!("/projects/team/services/{service}/buckets"),
        acting: format!("credential={credential}"),
    };
    let bucket = format!("api-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let (status, made) = cloud
        .call(Method::POST, "", Some(json!({"name": bucket})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(
        made["path_style_url"],
        format!("{}/{bucket}", stack.swift_url)
    );

    let big = file_of(200 * 1024);
    for (name, body) in [("big.bin", big.clone())]
        .into_iter()
        .chain(AWKWARD_NAMES.map(|n| (n, n.as_bytes().to_vec())))
    {
        let (status, stored) = cloud.put(&bucket, name, body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {stored}");
        let (status, download) = cloud
            .call(
                Method::POST,
                &format!("/{bucket}/objects/download-url"),
                Some(json!({"key": name})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{download}");
        assert_eq!(
            curl(download["url"].as_str().unwrap()),
            body,
            "{name} downloaded byte for byte"
        );
    }
    assert_eq!(
        signing_region(&cloud).await,
        stack.s3_region,
        "the console signs with the region of the s3api"
    );
    stack.fill(&user.project_id, &bucket, "many/", 450).await;
    // Across pages; the pages' test at Swift (`swift.rs`) goes through 2,500.
    let (many, _, pages) = cloud.all_keys(&bucket, "many/").await;
    assert_eq!((many.len(), pages), (450, 3));

    let (status, deleted) = cloud
        .call(
            Method::POST,
            &format!("/{bucket}/objects/delete"),
            Some(json!({"keys": many})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, json!({"deleted": 450, "failed": []}));
    let (status, refused) = cloud
        .call(Method::DELETE, &format!("/{bucket}"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        message(&refused).contains(&format!("holds {} objects", 1 + AWKWARD_NAMES.len())),
        "{refused}"
    );
    let (status, gone) = cloud
        .call(Method::DELETE, &format!("/{bucket}?empty={bucket}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    let (_, listing) = cloud.call(Method::GET, "", None).await;
    assert!(
        listing["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["name"] != bucket.as_str()),
        "{listing}"
    );
}

/// The region the console signs with at the chosen site, as the API tells it.
async fn signing_region(api: &Api<'_>) -> String {
    let (_, listing) = api.call(Method::GET, "", None).await;
    listing["signing_region"].as_str().unwrap().to_string()
}
