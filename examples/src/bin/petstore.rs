//! Runs the petstore REST API on 127.0.0.1:<port> (default 4010).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4010);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("petstore listening on http://{}", listener.local_addr()?);
    axum::serve(listener, examples::petstore::router()).await?;
    Ok(())
}
