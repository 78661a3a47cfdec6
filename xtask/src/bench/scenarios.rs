//! The scenarios, by name: what each measures and how its load is made.
//! `--only` and the report's numbering use [`Scenario::number`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::ensure;

use super::Measure;
use super::drivers::{Load, Op, drive, status_of};
use super::stack::{Bench, write_lines};

/// One scenario of the benchmark, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// The floor of the HTTP stack: commerce's `/healthz`.
    Healthz,
    /// The storefront's first page of products.
    ProductsPage,
    /// Cart reads with the token-status cache warm.
    CartWarmCache,
    /// Cart reads with the cache off: auth-service is asked every time.
    CartCacheOff,
    /// Cart adds.
    CartAdd,
    /// Refresh rotations.
    Refresh,
    /// Phone logins of returning customers, send-code and verify-code per
    /// unit.
    PhoneLogin,
    /// Checkouts, each of a two-line cart with a fresh key.
    Checkout,
    /// Cart reads through the nginx gateway.
    CartThroughGateway,
    /// Logouts, each of a live session of its own (the durable revocation
    /// write, then Redis).
    Logout,
    /// The gateway's own `/healthz` (answered by nginx alone): the ceiling
    /// for anything the gateway serves from its cache.
    GatewayHealthz,
    /// The products page through the gateway, served from its cache.
    ProductsThroughGateway,
    /// The floor of scenario 3 (`floor.rs`): JWT verified on every
    /// request, one Redis GET, one keyed select.
    Floor,
    /// The same floor remembering the tokens it has verified.
    FloorTokensCached,
    /// First phone logins (each creates its user).
    SignUp,
}

impl Scenario {
    pub const ALL: [Scenario; 15] = [
        Self::Healthz,
        Self::ProductsPage,
        Self::CartWarmCache,
        Self::CartCacheOff,
        Self::CartAdd,
        Self::Refresh,
        Self::PhoneLogin,
        Self::Checkout,
        Self::CartThroughGateway,
        Self::Logout,
        Self::GatewayHealthz,
        Self::ProductsThroughGateway,
        Self::Floor,
        Self::FloorTokensCached,
        Self::SignUp,
    ];

    /// The scenario's number in the report and in `--only`.
    pub fn number(self) -> usize {
        Self::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |index| index + 1)
    }

    pub fn from_number(number: usize) -> Option<Self> {
        number
            .checked_sub(1)
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Healthz => "1. GET /healthz (commerce)",
            Self::ProductsPage => "2. GET /api/v1/products?page=1",
            Self::CartWarmCache => "3. GET /api/v1/cart, warm status cache",
            Self::CartCacheOff => "4. GET /api/v1/cart, status cache off",
            Self::CartAdd => "5. POST /api/v1/cart/items",
            Self::Refresh => "6. POST /api/v1/auth/refresh",
            Self::PhoneLogin => "7. phone login, returning customer (send-code + verify-code)",
            Self::Checkout => "8. POST /api/v1/orders (checkout)",
            Self::CartThroughGateway => "9. GET /api/v1/cart through the gateway",
            Self::Logout => "10. POST /api/v1/auth/logout",
            Self::GatewayHealthz => "11. GET /healthz of the gateway (nginx alone)",
            Self::ProductsThroughGateway => "12. GET /api/v1/products?page=1 through the gateway",
            Self::Floor => "13. floor: axum, JWT verify + Redis GET + keyed select",
            Self::FloorTokensCached => "14. floor, verified tokens cached",
            Self::SignUp => "15. first phone login (sign-up; send-code + verify-code)",
        }
    }

    /// Which process does the work commerce-service does elsewhere (for
    /// its CPU and memory): the cache-less variant, or the floor.
    pub fn commerce_process(self) -> &'static str {
        match self {
            Self::CartCacheOff => "commerce-nocache",
            Self::Floor | Self::FloorTokensCached => "floor",
            _ => "commerce-service",
        }
    }

    /// Runs the scenario once.
    pub async fn run(self, bench: &Bench, pool: &sqlx::PgPool) -> anyhow::Result<Measure> {
        let wrk =
            |script: &'static str, url: String, args: Vec<String>| Load::Wrk { script, url, args };
        let cart = |base: &str| {
            wrk(
                "bearer.lua",
                format!("{base}/api/v1/cart"),
                vec![bench.files.readers.display().to_string()],
            )
        };
        match self {
            Self::Healthz => {
                let url = format!("{}/healthz", bench.commerce);
                bench.measure(wrk("plain.lua", url, vec![]), false).await
            }
            Self::ProductsPage => {
                let url = format!("{}/api/v1/products?page=1", bench.commerce);
                bench.measure(wrk("plain.lua", url, vec![]), false).await
            }
            Self::CartWarmCache => {
                // Warm the cache first: one request per customer.
                drive(16, 2.0, bench.cart_op(&bench.commerce)).await;
                bench.measure(cart(&bench.commerce), true).await
            }
            Self::CartCacheOff => bench.measure(cart(&bench.nocache), true).await,
            Self::CartAdd => {
                // The same starting point in every run: empty carts.
                sqlx::query(
                    "delete from cart_items where cart_id in
                       (select id from carts where user_id = any($1))",
                )
                .bind(&bench.adder_ids)
                .execute(pool)
                .await?;
                let skus = bench.skus.iter().map(i64::to_string).collect::<Vec<_>>();
                let load = wrk(
                    "cart_add.lua",
                    format!("{}/api/v1/cart/items", bench.commerce),
                    vec![bench.files.adders.display().to_string(), skus.join(",")],
                );
                bench.measure(load, false).await
            }
            Self::Refresh => {
                // Sessions of their own in each run: tokens rotated in flight
                // when wrk stops must never be presented again.
                let count = bench.readers.len();
                let first = bench.next_phone.fetch_add(count, Ordering::Relaxed);
                let sessions = bench.customers(first, count, "us").await?;
                let file = bench.files.dir.join("refresh.txt");
                write_lines(&file, sessions.iter().map(|c| c.refresh.as_str()))?;
                let threads = bench.options.connections.clamp(1, 2);
                let load = wrk(
                    "refresh.lua",
                    format!("{}/api/v1/auth/refresh", bench.auth),
                    vec![file.display().to_string(), threads.to_string()],
                );
                bench.measure(load, false).await
            }
            Self::PhoneLogin => {
                // The readers log in again: each worker cycles through
                // numbers of its own, so no two logins of one number are
                // ever in flight at once (a send voids the last code).
                let workers = bench.options.connections.max(1);
                let per_worker = (bench.readers.len() / workers).max(1);
                bench
                    .measure(
                        Load::Driver(login_op(bench, move |worker, iteration| {
                            worker + workers * (iteration as usize % per_worker)
                        })),
                        false,
                    )
                    .await
            }
            Self::SignUp => {
                let phones = bench.next_phone.clone();
                let op = login_op(bench, move |_, _| phones.fetch_add(1, Ordering::Relaxed));
                bench.measure(Load::Driver(op), false).await
            }
            Self::Checkout => checkout(bench, pool).await,
            Self::CartThroughGateway => bench.measure(cart(&bench.gateway), false).await,
            Self::GatewayHealthz => {
                let url = format!("{}/healthz", bench.gateway);
                bench.measure(wrk("plain.lua", url, vec![]), false).await
            }
            Self::ProductsThroughGateway => {
                let url = format!("{}/api/v1/products?page=1", bench.gateway);
                bench.measure(wrk("plain.lua", url, vec![]), false).await
            }
            Self::Floor | Self::FloorTokensCached => {
                let path = if self == Self::Floor {
                    "cart"
                } else {
                    "cart-cached"
                };
                let load = wrk(
                    "bearer.lua",
                    format!("{}/{path}", bench.floor),
                    vec![bench.files.readers.display().to_string()],
                );
                bench.measure(load, false).await
            }
            Self::Logout => {
                // Live sessions of their own, each ended once; the run ends
                // when they are used up (the rate is over the time taken).
                let count = bench.readers.len() * 2;
                let first = bench.next_phone.fetch_add(count, Ordering::Relaxed);
                let sessions = bench.customers(first, count, "us").await?;
                let queue = Arc::new(std::sync::Mutex::new(
                    sessions.into_iter().map(|c| c.access).collect::<Vec<_>>(),
                ));
                let client = bench.client.clone();
                let url = format!("{}/api/v1/auth/logout", bench.auth);
                let op: Op = Arc::new(move |_, _| {
                    let token = queue.lock().ok().and_then(|mut q| q.pop());
                    let request = client.post(&url);
                    Box::pin(async move {
                        let token = token.ok_or_else(|| "exhausted".to_owned())?;
                        status_of(request.bearer_auth(token)).await
                    })
                });
                bench.measure(Load::Driver(op), false).await
            }
        }
    }
}

/// One phone login per unit, of the number `index(worker, iteration)`.
fn login_op(bench: &Bench, index: impl Fn(usize, u64) -> usize + Send + Sync + 'static) -> Op {
    let client = bench.client.clone();
    let auth = bench.auth.clone();
    let sms = bench.sms.clone();
    Arc::new(move |worker, iteration| {
        let (client, auth, sms) = (client.clone(), auth.clone(), sms.clone());
        let phone = Bench::phone(index(worker, iteration));
        Box::pin(async move {
            Bench::login(&client, &auth, &sms, &phone, "us")
                .await
                .map(|_| 200)
                .map_err(|e| e.to_string())
        })
    })
}

/// Checkout: before each run every buyer's cart gets two lines (SKUs spread
/// over the catalog, as real baskets are); each buyer checks out once with
/// a fresh key. Afterwards orders and stock must add up exactly.
async fn checkout(bench: &Bench, pool: &sqlx::PgPool) -> anyhow::Result<Measure> {
    let skus = &bench.skus;
    let (mut users, mut line_skus, mut quantities) = (Vec::new(), Vec::new(), Vec::new());
    for (n, buyer) in bench.buyers.iter().enumerate() {
        for (offset, quantity) in [(0, 2), (1, 1)] {
            users.push(buyer.user_id);
            line_skus.push(skus[(n + offset) % skus.len()]);
            quantities.push(quantity);
        }
    }
    sqlx::query(
        "insert into carts (user_id, market) select distinct unnest($1::bigint[]), 'us'
         on conflict (user_id, market) do update set updated_at = now()",
    )
    .bind(&users)
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into cart_items (cart_id, sku_id, quantity)
         select c.id, l.sku_id, l.quantity
         from unnest($1::bigint[], $2::bigint[], $3::int[]) as l (user_id, sku_id, quantity)
         join carts c on c.user_id = l.user_id and c.market = 'us'
         on conflict (cart_id, sku_id) do update set quantity = excluded.quantity",
    )
    .bind(&users)
    .bind(&line_skus)
    .bind(&quantities)
    .execute(pool)
    .await?;
    let units_per_order = 3;
    let total_stock = "select sum(stock)::bigint from skus";
    let stock_before: i64 = sqlx::query_scalar(total_stock).fetch_one(pool).await?;
    let orders_before: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(pool)
        .await?;
    let queue = Arc::new(std::sync::Mutex::new(
        bench
            .buyers
            .iter()
            .map(|b| b.access.clone())
            .collect::<Vec<_>>(),
    ));
    let url = format!("{}/api/v1/orders", bench.commerce);
    let client = bench.client.clone();
    let created = Arc::new(AtomicUsize::new(0));
    let counted = created.clone();
    // Keys never seen before, in this run or an earlier one.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let measure = bench
        .measure(
            Load::Driver(Arc::new(move |worker, iteration| {
                let token = queue.lock().ok().and_then(|mut q| q.pop());
                let client = client.clone();
                let url = url.clone();
                let created = counted.clone();
                Box::pin(async move {
                    let token = token.ok_or_else(|| "exhausted".to_owned())?;
                    let key = format!("bench-{run_id}-{worker}-{iteration}");
                    let status = status_of(
                        client
                            .post(&url)
                            .bearer_auth(token)
                            .header("idempotency-key", key),
                    )
                    .await?;
                    if status == 201 {
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(status)
                })
            })),
            false,
        )
        .await?;
    let stock_after: i64 = sqlx::query_scalar(total_stock).fetch_one(pool).await?;
    let orders_after: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(pool)
        .await?;
    let made = created.load(Ordering::Relaxed) as i64;
    ensure!(
        orders_after - orders_before == made,
        "orders: {} made, {} answered 201",
        orders_after - orders_before,
        made
    );
    ensure!(
        stock_before - stock_after == units_per_order * made,
        "stock moved by {}, orders took {}",
        stock_before - stock_after,
        units_per_order * made
    );
    Ok(measure)
}
