import { useEffect, useState } from "react";
import { NavLink, Navigate, Route, Routes, useNavigate } from "react-router-dom";

import { onLoggedOut, shop } from "./api";
import { CustomerDetail } from "./pages/CustomerDetail";
import { Customers } from "./pages/Customers";
import { Login } from "./pages/Login";
import { OrderDetail } from "./pages/OrderDetail";
import { Orders } from "./pages/Orders";
import { ProductDetail } from "./pages/ProductDetail";
import { ProductNew } from "./pages/ProductNew";
import { Products } from "./pages/Products";

/** Whether tokens are held: `null` until storage has been read. */
function useLoggedIn(): [boolean | null, (value: boolean) => void] {
  const [loggedIn, setLoggedIn] = useState<boolean | null>(null);
  useEffect(() => {
    shop.session.current().then((tokens) => setLoggedIn(tokens !== null));
    return onLoggedOut(() => setLoggedIn(false));
  }, []);
  return [loggedIn, setLoggedIn];
}

export function App() {
  const [loggedIn, setLoggedIn] = useLoggedIn();
  const navigate = useNavigate();
  if (loggedIn === null) return null;
  if (!loggedIn) return <Login onLoggedIn={() => setLoggedIn(true)} />;
  const logout = async () => {
    await shop.logout();
    setLoggedIn(false);
    navigate("/");
  };
  return (
    <div className="layout">
      <header className="topbar">
        <span className="brand">Shop admin</span>
        <nav>
          <NavLink to="/products">Products</NavLink>
          <NavLink to="/orders">Orders</NavLink>
          <NavLink to="/customers">Customers</NavLink>
        </nav>
        <button type="button" className="secondary" onClick={logout}>
          Log out
        </button>
      </header>
      <main>
        <Routes>
          <Route path="/" element={<Navigate to="/products" replace />} />
          <Route path="/products" element={<Products />} />
          <Route path="/products/new" element={<ProductNew />} />
          <Route path="/products/:id" element={<ProductDetail />} />
          <Route path="/orders" element={<Orders />} />
          <Route path="/orders/:id" element={<OrderDetail />} />
          <Route path="/customers" element={<Customers />} />
          <Route path="/customers/:id" element={<CustomerDetail />} />
          <Route path="*" element={<Navigate to="/products" replace />} />
        </Routes>
      </main>
    </div>
  );
}
